"""The source and the run's steps in this process: real DuckDB files, reports served from memory, no HTTP.

What the tables hold after polls (snapshot replacement, tombstones, history, personal data per table,
forget) is tested here; the command-line contract is tested in test_pipeline_cli.py.
"""

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime

import dlt
import pytest

from conftest import InProcess, assert_no_duplicates
from konnectnxt import run as run_module
from konnectnxt import warehouse as warehouse_module
from konnectnxt.errors import DestinationError
from konnectnxt.forget import erase
from konnectnxt.polling_state import store_tracked_cases
from konnectnxt.schedule import TrackedCase
from konnectnxt.tables import TABLES, TRACKED_CASES
from konnectnxt.warehouse_check import holds_the_local_state, prepare_warehouse

A = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
B = "6bc26096dfe54c44937b27063820dc28"
SALT = "pepper-for-tests-123"


def check(check_type, status="in_progress", result="pending", completed_at=None, **extra):
    return {
        "type": check_type,
        "name": check_type.title(),
        "status": status,
        "result": result,
        "completed_at": completed_at,
        **extra,
    }


def report(status, result, checks, name="Zoë Unique-Candidate", generated="2026-06-15T10:30:00.000001+00:00"):
    return {
        "reference_id": "2605310236148021",
        "generated_at": generated,
        "status": status,
        "result": result,
        "candidate": {"name": name, "photo": "https://example.invalid/photo.png"},
        "summary": {"total": len(checks)},
        "checks": checks,
    }


def full_report(status="in_progress"):
    """A case with a check of every kind: entries, fields, documents, two checks of one type."""
    employment = check("employment", entries=[{"employer": "Infosys", "status": "completed", "result": "clear"}])
    identity = check(
        "identity_aadhaar",
        "completed",
        "clear",
        "13 May, 2026, 11:02",
        remark="Matched the register",
        fields=[
            {"label": "Name", "value": "Zoë Unique-Candidate"},
            {"label": "Aadhaar Number", "value": "xxxxxxxx8300"},
        ],
        documents=["https://storage.example.invalid/aadhaar/page_1.png"],
    )
    return report(status, "pending", [employment, dict(employment, entries=[]), identity])


def count(run: InProcess, sql: str) -> int:
    return run.query(sql)[0][0]


def test_a_new_snapshot_replaces_every_row_of_its_case_and_no_other(in_process):
    in_process.reports.update({A: full_report(), B: full_report()})
    in_process.poll(A, B)
    for table in ["checks", "entries", "check_fields", "check_documents"]:
        assert count(in_process, f"select count(*) from konnectnxt.{table} where case_id = '{A}'") > 0, table
    assert in_process.query(f"select check_key from konnectnxt.checks where case_id = '{A}' order by 1") == [
        ("employment",),
        ("employment#2",),
        ("identity_aadhaar",),
    ]

    # A's snapshot loses its multi-part checks, its fields and documents; B's stays as it was.
    in_process.reports[A] = report("in_audit", "pending", [check("identity_aadhaar", "completed", "clear")])
    in_process.poll()
    assert in_process.query(f"select check_key from konnectnxt.checks where case_id = '{A}'") == [("identity_aadhaar",)]
    for table in ["entries", "check_fields", "check_documents"]:
        assert count(in_process, f"select count(*) from konnectnxt.{table} where case_id = '{A}'") == 0, table
        assert count(in_process, f"select count(*) from konnectnxt.{table} where case_id = '{B}'") > 0, table
    assert count(in_process, f"select count(*) from konnectnxt.checks where case_id = '{B}'") == 3

    # An empty snapshot (the tombstone's case) removes every check; the tombstone itself is never stored.
    in_process.reports[A] = report("in_audit", "pending", [])
    in_process.poll()
    assert count(in_process, f"select count(*) from konnectnxt.checks where case_id = '{A}'") == 0
    for table in TABLES.snapshot:
        assert count(in_process, f"select count(*) from konnectnxt.{table.name} where _tombstone") == 0
    assert_no_duplicates(in_process)


def test_history_keeps_every_change_only_once_including_a_reopen(in_process):
    def serve(status, result, criminal, generated):
        in_process.reports[A] = report(
            status, result, [criminal, check("identity_aadhaar", "completed", "clear")], generated=generated
        )

    serve("in_progress", "pending", check("criminal"), "2026-06-15T10:00:00+00:00")
    in_process.poll(A)
    serve("in_progress", "pending", check("criminal"), "2026-06-15T11:00:00+00:00")  # only generated_at moved
    in_process.poll()
    assert count(in_process, "select count(*) from konnectnxt.case_status_history") == 1
    assert count(in_process, "select count(*) from konnectnxt.check_status_history") == 2

    done = check("criminal", "completed", "clear", "13 May, 2026, 11:02")
    serve("in_audit", "pending", done, "2026-06-16T00:00:00+00:00")
    in_process.poll()
    serve("completed", "clear", done, "2026-06-17T00:00:00+00:00")
    in_process.poll()
    first_completed = in_process.query("select first_completed_at, last_completed_at from konnectnxt.cases")[0]
    assert first_completed[0] is not None and first_completed[0] == first_completed[1]
    assert in_process.poll().stats.due == 0  # terminal: not requested, nothing added

    serve("in_progress", "pending", done, "2026-06-18T00:00:00+00:00")
    in_process.poll(refresh_completed=True)
    reopened = in_process.query("select first_completed_at, last_completed_at from konnectnxt.cases")[0]
    assert reopened == (first_completed[0], None)  # open again: no last completion until the next one
    serve("completed", "clear", done, "2026-06-19T00:00:00+00:00")
    in_process.poll()

    history = in_process.query(
        "select status, result, generated_at from konnectnxt.case_status_history order by observed_at"
    )
    assert [(s, r) for s, r, _ in history] == [
        ("in_progress", "pending"),
        ("in_audit", "pending"),
        ("completed", "clear"),
        ("in_progress", "pending"),
        ("completed", "clear"),
    ]
    assert history[0][2] == datetime(2026, 6, 15, 10, tzinfo=UTC)
    checks = in_process.query(
        "select check_key, status, result from konnectnxt.check_status_history order by observed_at, check_key"
    )
    assert checks == [
        ("criminal", "in_progress", "pending"),
        ("identity_aadhaar", "completed", "clear"),
        ("criminal", "completed", "clear"),
    ]
    first, last = in_process.query("select first_completed_at, last_completed_at from konnectnxt.cases")[0]
    assert first == first_completed[0] and last > first
    assert last == in_process.query("select max(observed_at) from konnectnxt.case_status_history")[0][0]


def keyed(value: str) -> str:
    return hmac.new(SALT.encode(), value.encode(), hashlib.sha256).hexdigest()


def personal_values(run: InProcess) -> dict:
    return {
        "name": run.query("select candidate_name, candidate_photo, candidate_email from konnectnxt.cases")[0],
        "fields": run.query("select value from konnectnxt.check_fields order by field_index"),
        "remark": run.query("select remark from konnectnxt.checks where check_key = 'identity_aadhaar'")[0][0],
        "url": run.query("select url from konnectnxt.check_documents")[0][0],
        "entry": run.query('select employer, status, result, "from", verifier, phone from konnectnxt.entries')[0],
    }


def pii_report():
    data = report(
        "completed",
        "clear",
        [
            check(
                "identity_aadhaar",
                "completed",
                "clear",
                "13 May, 2026, 11:02",
                remark="Matched the register",
                fields=[
                    {"label": "Name", "value": "Zoë Unique-Candidate"},
                    {"label": "Aadhaar Number", "value": "xxxxxxxx8300"},
                    {"label": "Date of Birth", "value": "08-01-2001"},
                ],
                documents=["https://storage.example.invalid/aadhaar/page_1.png"],
            ),
            check(
                "employment",
                "completed",
                "clear",
                "13 May, 2026, 11:02",
                entries=[
                    {
                        "employer": "Infosys Ltd",
                        "status": "completed",
                        "result": "clear",
                        "from": "01-04-2019",
                        "verifier": {"name": "Ritu Malhotra", "status": "completed"},
                        "phone": "xxxxxx1234",
                    }
                ],
            ),
        ],
    )
    data["candidate"]["email"] = "zoe@example.invalid"
    return data


def test_each_pii_mode_protects_the_personal_columns_the_registry_declares_and_switching_rewrites_them(in_process):
    in_process.reports[A] = pii_report()
    in_process.poll(A)
    kept = personal_values(in_process)
    assert kept["name"] == ("Zoë Unique-Candidate", "https://example.invalid/photo.png", "zoe@example.invalid")

    hashed = {"pii": "hash", "pii_salt": SALT}
    assert in_process.poll(all_open=False, **hashed).stats.fetched == 1  # terminal, fetched again to rewrite
    values = personal_values(in_process)
    assert values["name"] == tuple(keyed(v) for v in kept["name"])
    assert values["fields"] == [(keyed("Zoë Unique-Candidate"),), ("xxxxxxxx8300",), ("08-01-2001",)]
    assert values["remark"] == keyed("Matched the register")
    assert values["url"] == keyed("https://storage.example.invalid/aadhaar/page_1.png")
    employer, status, result, started, verifier, phone = values["entry"]
    assert (employer, status, result, started, phone) == (
        keyed("Infosys Ltd"),
        "completed",
        "clear",
        "01-04-2019",
        "xxxxxx1234",
    )
    assert (json.loads(verifier) if isinstance(verifier, str) else verifier) == {
        "name": keyed("Ritu Malhotra"),
        "status": "completed",
    }
    assert in_process.poll(all_open=False, **hashed).stats.due == 0  # rewritten once, then terminal again

    in_process.poll(all_open=False, pii="drop")
    values = personal_values(in_process)
    assert values["name"] == (None, None, None) and values["remark"] is None and values["url"] is None
    assert values["fields"] == [(None,), ("xxxxxxxx8300",), ("08-01-2001",)]
    assert values["entry"][:4] == (None, "completed", "clear", "01-04-2019")
    assert count(in_process, "select count(*) from konnectnxt.check_fields") == 3  # rows stay, values go

    in_process.poll(all_open=False)  # back to keep: fetched again, names return
    assert personal_values(in_process) == kept
    assert len(in_process.client.requested) == 4


@pytest.mark.parametrize("table", [t for t in TABLES if t.personal.columns], ids=lambda t: t.name)
def test_hash_mode_leaves_no_declared_personal_value_in_clear(in_process, table):
    in_process.reports[A] = pii_report()
    in_process.poll(A, pii="hash", pii_salt=SALT)
    for column in table.personal.columns:
        stored = [row[0] for row in in_process.query(f"select {column} from konnectnxt.{table.name}")]
        assert stored, f"{table.name}.{column} has no rows to check"
        clear = [v for v in stored if v is not None and not (len(v) == 64 or v.startswith("xxx") or v[:2].isdigit())]
        assert clear == [], f"{table.name}.{column} holds personal data in clear"


def test_forget_deletes_a_case_from_every_table_that_holds_case_data_and_records_it_together(in_process):
    in_process.reports.update({A: pii_report(), B: full_report()})
    in_process.reports["f" * 32] = None
    in_process.poll(A, B, "f" * 32)  # the missing id gives fetch_errors rows
    in_process.reports["f" * 32] = full_report()
    in_process.poll()
    before_b = {
        t.name: count(in_process, f"select count(*) from konnectnxt.{t.name} where case_id = '{B}'")
        for t in TABLES.per_case
    }

    removed = erase(in_process.warehouse, [A, "f" * 32])
    assert set(removed[A]) == {t.name for t in TABLES.per_case if t.name != "fetch_errors"}
    assert "fetch_errors" in removed["f" * 32]
    for table in TABLES.per_case:
        assert (
            count(in_process, f"select count(*) from konnectnxt.{table.name} where case_id in ('{A}', '{'f' * 32}')")
            == 0
        )
    forgotten = in_process.query("select case_id from konnectnxt.forgotten_cases order by 1")
    assert forgotten == [(A,), ("f" * 32,)]
    after_b = {
        t.name: count(in_process, f"select count(*) from konnectnxt.{t.name} where case_id = '{B}'")
        for t in TABLES.per_case
    }
    assert after_b == before_b


def test_a_report_that_cannot_become_rows_fails_its_own_case_only(in_process, monkeypatch):
    from konnectnxt import polling

    in_process.reports.update({A: full_report(), B: full_report()})
    real = polling.report_rows

    def breaks_on_a(case_id, *args, **kwargs):
        if case_id == A:
            raise OverflowError("date value out of range")
        return real(case_id, *args, **kwargs)

    monkeypatch.setattr(polling, "report_rows", breaks_on_a)
    report = in_process.poll(A, B)
    assert (report.stats.fetched, report.stats.failed, report.exit_code) == (1, 1, 1)
    assert in_process.query("select case_id from konnectnxt.cases") == [(B,)]
    assert in_process.query("select case_id, http_status, error_message from konnectnxt.fetch_errors") == [
        (A, 200, "report could not be stored: OverflowError: date value out of range")
    ]
    assert count(in_process, f"select count(*) from konnectnxt.raw_reports where case_id = '{A}'") == 1
    backoff = in_process.query(
        f"select consecutive_failures, next_poll_at > last_polled_at from konnectnxt.tracked_cases where case_id = '{A}'"
    )
    assert backoff == [(1, True)]


@pytest.mark.parametrize("mode", ["hash", "drop"])
def test_a_raw_report_is_protected_exactly_where_the_report_tables_are(mode):
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from konnectnxt.pii import protect_report, protect_rows
    from konnectnxt.transform import CaseTimes, report_rows

    now = datetime(2026, 6, 15, tzinfo=UTC)
    times, zone = CaseTimes(now, now + timedelta(hours=1)), ZoneInfo("Asia/Kolkata")
    for data in (pii_report(), full_report(), {**pii_report(), "candidate": "Asha as plain text"}):
        from_rows = report_rows(A, data, times=times, report_timezone=zone)
        protect_rows(from_rows.tables, mode, SALT)
        from_raw = report_rows(A, protect_report(data, mode, SALT), times=times, report_timezone=zone)

        def stored(tables):  # a key missing or None is the same NULL in the warehouse
            return {
                name: [{k: v for k, v in row.items() if v is not None} for row in rows] for name, rows in tables.items()
            }

        assert stored(from_raw.tables) == stored(from_rows.tables)


def test_the_sync_with_the_warehouse_is_skipped_only_while_it_holds_the_working_dirs_state(in_process):
    in_process.reports[A] = full_report()
    in_process.poll(A)
    warehouse = in_process.warehouse
    assert holds_the_local_state(warehouse)
    state_table = warehouse.client.make_qualified_table_name("_dlt_pipeline_state")
    # Another checkout or host loaded another state since: the run syncs.
    in_process.query(f"update {state_table} set version_hash = 'loaded-elsewhere'")
    assert not holds_the_local_state(warehouse)
    # No state there (a warehouse new, emptied or of another tool): the run syncs.
    in_process.query(f"drop table {state_table}")
    assert not holds_the_local_state(warehouse)
    in_process.poll(A)  # the connection that asked for the missing table still serves a run
    assert count(in_process, "select count(*) from konnectnxt.cases") == 1


def test_tracked_cases_written_by_sql_or_by_a_load_package_read_back_the_same(in_process, monkeypatch):
    prepare_warehouse(in_process.warehouse)
    added = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
    cases = [TrackedCase(case_id=case_id, source="flag", added_at=added) for case_id in (A, B)]
    polled = replace(cases[0], last_polled_at=added, poll_step=3, last_error="HTTP 500", not_found_attempts=2)
    columns = "case_id, source, added_at, last_polled_at, poll_step, last_error, not_found_attempts, untracked_at"

    def stored() -> list[tuple]:
        return in_process.query(f"select {columns} from konnectnxt.tracked_cases order by case_id")

    def loads() -> int:
        return count(in_process, "select count(*) from konnectnxt._dlt_loads")

    before = loads()
    store_tracked_cases(in_process.warehouse, [case.row() for case in cases])  # new ids, by SQL
    store_tracked_cases(in_process.warehouse, [polled.row(), polled.row()])  # one row replaced
    by_sql = stored()
    assert loads() == before
    in_process.query("delete from konnectnxt.tracked_cases")
    monkeypatch.setattr(warehouse_module, "SQL_ROWS_AT_MOST", 0)  # every write a load package
    store_tracked_cases(in_process.warehouse, [case.row() for case in cases])
    store_tracked_cases(in_process.warehouse, [polled.row()])
    assert loads() == before + 2
    assert stored() == by_sql
    assert [row[0] for row in by_sql] == sorted([A, B]) and {row[0]: row[4] for row in by_sql}[A] == 3


def test_tracked_cases_the_database_refuses_by_sql_go_in_as_a_load_package(in_process, monkeypatch):
    # A full disk refuses the SQL write; its rows then go into a package, which a full disk leaves pending.
    prepare_warehouse(in_process.warehouse)
    warehouse = in_process.warehouse

    def refused(*args):
        raise DestinationError("cannot read the warehouse at test: No space left on device")

    monkeypatch.setattr(warehouse, "insert_rows", refused)
    loads = count(in_process, "select count(*) from konnectnxt._dlt_loads")
    store_tracked_cases(warehouse, [TrackedCase(case_id=A, source="flag", added_at=datetime.now(UTC)).row()])
    assert in_process.query("select case_id from konnectnxt.tracked_cases") == [(A,)]
    assert count(in_process, "select count(*) from konnectnxt._dlt_loads") == loads + 1


def test_a_polling_state_that_fails_to_extract_leaves_none_of_the_runs_data_pending(in_process, monkeypatch):
    # The fetched rows' package is extracted first; when the polling state's extract fails, both go.
    @dlt.resource(name=TRACKED_CASES.name)
    def failing_polling_state():
        raise OSError("the polling state could not be written")
        yield

    in_process.reports[A] = report("in_progress", "pending", [check("criminal")])
    with monkeypatch.context() as patch, pytest.raises(Exception, match="the polling state could not be written"):
        patch.setattr(run_module, "case_registry", lambda rows: failing_polling_state())
        in_process.poll(A)
    assert not in_process.warehouse.pipeline.has_pending_data
    assert count(in_process, "select count(*) from konnectnxt.cases") == 0
    assert in_process.query("select report_hash from konnectnxt.tracked_cases") == [(None,)]

    in_process.poll(A)
    assert in_process.query("select case_id, status from konnectnxt.cases") == [(A, "in_progress")]
    assert in_process.query("select report_hash is not null from konnectnxt.tracked_cases") == [(True,)]
    assert_no_duplicates(in_process)
