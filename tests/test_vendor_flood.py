"""A flood of new vendor keys through the real CLI: columns up to max_vendor_columns, the rest in vendor_overflow."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from conftest import BGV_SCRIPT, Project, warehouse_columns
from konnectnxt.check_identity import assign_check_keys, checks_from_rows
from konnectnxt.demo.key_flood import key_flood_reports
from konnectnxt.tables import ENTRIES, TRACKED_CASES
from konnectnxt.vendor_overflow import VendorColumnLimit

PEAK_RSS_LIMIT_MB = 1024
DLT_COLUMNS = {"_dlt_load_id", "_dlt_id", "_tombstone"}


@dataclass
class MeasuredRun:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float


def run_measured(project: Project, *args: str) -> MeasuredRun:
    """The CLI as a child of this process alone, so its peak RSS is its own (os.wait4)."""
    out, err = project.root / "cli.out", project.root / "cli.err"
    started = time.monotonic()
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(BGV_SCRIPT), *args],
            cwd=project.root,
            env=project.environment(),
            stdout=stdout,
            stderr=stderr,
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    return MeasuredRun(process.returncode, out.read_text(), err.read_text(), usage.ru_maxrss / 1024, seconds)


def entry_values(project: Project) -> dict[tuple[str, int], dict]:
    """Every entry's vendor values as stored: its vendor columns and its vendor_overflow keys together."""
    columns = [c for c in warehouse_columns(project, "entries") if c not in DLT_COLUMNS]
    selected = ", ".join(f"cast({c} as text)" if c == "vendor_overflow" else c for c in columns)
    stored = {}
    for row in project.query(f"select {selected} from konnectnxt.entries"):
        values = dict(zip(columns, row, strict=True))
        overflow = json.loads(values.pop("vendor_overflow") or "{}")
        key = (values.pop("case_id"), values.pop("entry_index"))
        values.pop("check_key")
        stored[key] = {**{k: v for k, v in values.items() if v is not None}, **overflow}
    return stored


def flood(project: Project) -> dict[str, dict]:
    reports = key_flood_reports(reports=50, keys_per_report=2000)
    for case_id, data in reports.items():
        project.sandbox.add_case(case_id, data)
    return reports


def assert_every_value_recoverable(project: Project, reports: dict[str, dict]) -> None:
    stored = entry_values(project)
    expected = {
        (case_id, index): entry
        for case_id, data in reports.items()
        for index, entry in enumerate(data["checks"][0]["entries"])
    }
    assert stored.keys() == expected.keys()
    for key, entry in expected.items():
        assert stored[key] == entry, key


def flood_and_check(project: Project, label: str) -> MeasuredRun:
    reports = flood(project)
    ids = project.write("ids.txt", "\n".join(reports))
    run = run_measured(project, "--cases-file", str(ids))
    assert run.returncode == 0, run.stderr[-3000:]
    print(f"\n{label}: 50 reports x 2,000 new entry keys: peak RSS {run.peak_mb:.0f} MB, {run.seconds:.1f} s")
    assert run.peak_mb < PEAK_RSS_LIMIT_MB
    vendor = [c for c in warehouse_columns(project, "entries") if c not in ENTRIES.own_columns | DLT_COLUMNS]
    assert len(vendor) == 300
    assert "entries: 99,700 new vendor key(s) past max_vendor_columns=300 kept in vendor_overflow" in run.stdout
    assert_every_value_recoverable(project, reports)
    # One value read the way a user would, out of the JSON column.
    last = list(reports)[-1]
    assert project.query(
        f"select vendor_overflow->>'r049_key_0000' from konnectnxt.entries where case_id = '{last}' and entry_index = 0"
    ) == [("value 49-0",)]
    return run


def test_a_flood_of_new_entry_keys_loads_into_duckdb_in_bounded_memory_every_value_recoverable(project):
    flood_and_check(project, "DuckDB")
    # --rebuild decides the same: the same 300 columns, every value still there.
    before = warehouse_columns(project, "entries")
    rebuilt = run_measured(project, "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert "entries: 99,700 new vendor key(s) past max_vendor_columns=300 kept in vendor_overflow" in rebuilt.stdout
    assert warehouse_columns(project, "entries") == before


def test_a_flood_of_new_entry_keys_loads_into_postgres_in_bounded_memory_every_value_recoverable(postgres_project):
    flood_and_check(postgres_project, "PostgreSQL")


def test_keys_that_are_columns_stay_columns_and_new_keys_wait_in_vendor_overflow(project, sandbox):
    case, other = "c" * 32, "d" * 32

    def serve(case_id, entry):
        check = {"type": "employment", "status": "in_progress", "result": "pending", "entries": [entry]}
        sandbox.add_case(case_id, {"status": "in_progress", "result": "pending", "checks": [check]})

    serve(case, {"employer": "Acme", "city": "Pune"})
    result = project.run("--case-id", case, env={"SOURCES__KONNECTNXT__MAX_VENDOR_COLUMNS": "2"})
    assert result.returncode == 0, result.stderr
    serve(case, {"employer": "Acme", "city": "Pune", "zeta": 1, "alpha": 2})
    serve(other, {"alpha": 3})
    result = project.run("--case-id", other, "--all-open", env={"SOURCES__KONNECTNXT__MAX_VENDOR_COLUMNS": "3"})
    assert result.returncode == 0, result.stderr
    # One free column: the new keys come in sorted order, alpha takes it, zeta waits; employer and city stay.
    assert "entries: 1 new vendor key(s) past max_vendor_columns=3 kept in vendor_overflow" in result.stdout
    rows = project.query(
        "select case_id, employer, city, alpha, cast(vendor_overflow as text) from konnectnxt.entries order by 1"
    )
    assert rows == [(case, "Acme", "Pune", 2, '{"zeta":1}'), (other, None, None, 3, None)]

    # A higher limit and --rebuild: the waiting key becomes a column, recorded as a schema change.
    rebuilt = project.run("--rebuild", env={"SOURCES__KONNECTNXT__MAX_VENDOR_COLUMNS": "4"})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "new columns: entries.zeta" in rebuilt.stdout
    assert project.query("select case_id, zeta, vendor_overflow from konnectnxt.entries order by 1") == [
        (case, 1, None),
        (other, None, None),
    ]
    assert project.query(
        "select change, case_id from konnectnxt.schema_changes where column_name = 'zeta' and run_id like 'rebuild-%'"
    ) == [("new column", case)]


def test_values_kept_in_vendor_overflow_identify_a_stored_check_like_columns_do():
    def check(employer, status):
        return {"type": "employment", "status": status, "result": "pending", "entries": [{"employer": employer}]}

    def stored_row(key, employer):
        return {
            "case_id": "e" * 32,
            "check_key": key,
            "entry_index": 0,
            "vendor_overflow": f'{{"employer": "{employer}"}}',
        }

    tables = {
        "checks": [
            {"case_id": "e" * 32, "check_key": "employment", "check_type": "employment", "status": "completed"},
            {"case_id": "e" * 32, "check_key": "employment#2", "check_type": "employment", "status": "in_progress"},
        ],
        "entries": [stored_row("employment", "Acme"), stored_row("employment#2", "Beta")],
    }
    previous = checks_from_rows(tables)
    assert previous[0][1]["entries"] == [{"employer": "Acme"}]
    assert assign_check_keys(previous, [check("Beta", "in_progress"), check("Acme", "completed")]) == [
        "employment#2",
        "employment",
    ]


def test_existing_vendor_columns_stay_and_new_keys_are_admitted_in_sorted_order_up_to_the_limit():
    limit = VendorColumnLimit.from_warehouse(3, [ENTRIES], {"entries": {"case_id", "entry_index", "_dlt_id", "city"}})
    own = {"case_id": "c", "check_key": "employment", "entry_index": 0}
    rows = limit.place(ENTRIES, [{**own, "zeta": 1, "city": "Pune", "beta": 2, "alpha": None, "gamma": "g"}])
    assert rows == [{**own, "city": "Pune", "alpha": None, "beta": 2, "vendor_overflow": {"gamma": "g", "zeta": 1}}]
    # A later batch: the table is full, the keys kept aside stay aside, columns stay columns.
    assert limit.place(ENTRIES, [{**own, "zeta": 3, "beta": 4}]) == [{**own, "beta": 4, "vendor_overflow": {"zeta": 3}}]
    assert limit.summary_lines() == ["entries: 2 new vendor key(s) past max_vendor_columns=3 kept in vendor_overflow"]


def test_tables_without_vendor_keys_are_left_as_they_are():
    limit = VendorColumnLimit(0)
    rows = [{"case_id": "c", "status": "open", "unexpected": 1}]
    assert limit.place(TRACKED_CASES, rows) is rows
    assert limit.summary_lines() == []


def test_personal_values_kept_in_vendor_overflow_are_protected_like_columns(project, sandbox):
    case = "a1" * 16
    entry = {"employer": "Acme Industries", "status": "verified"}
    check = {"type": "employment", "status": "completed", "result": "clear", "entries": [entry]}
    sandbox.add_case(case, {"status": "completed", "result": "clear", "checks": [check]})
    env = {
        "SOURCES__KONNECTNXT__MAX_VENDOR_COLUMNS": "0",
        "SOURCES__KONNECTNXT__PII": "hash",
        "SOURCES__KONNECTNXT__PII_SALT": "a-test-salt",
    }
    result = project.run("--case-id", case, env=env)
    assert result.returncode == 0, result.stderr
    ((overflow,),) = project.query("select cast(vendor_overflow as text) from konnectnxt.entries")
    stored = json.loads(overflow)
    assert stored["status"] == "verified"  # describes the check, kept as the column would be
    assert stored["employer"] != "Acme Industries" and len(stored["employer"]) == 64
