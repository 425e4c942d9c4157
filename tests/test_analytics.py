"""Views, the PII settings and --forget through the real CLI; view numbers checked in Python.

History and what each PII mode stores are tested in process, in test_source.py.
"""

import json
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb

from conftest import Project
from konnectnxt.demo.fake_reports import vendor_time_text

IST = ZoneInfo("Asia/Kolkata")
A = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
B = "6bc26096dfe54c44937b27063820dc28"
C = "0123456789abcdef0123456789abcdef"
SALT = "pepper-for-tests-123"


def check(check_type, status="in_progress", result="pending", completed_at=None, **extra):
    return {
        "type": check_type,
        "name": check_type.title(),
        "category": "Cat " + check_type,
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


def rows(project: Project, sql: str) -> list[tuple]:
    return project.query(sql)


def count(project: Project, sql: str) -> int:
    return project.query(sql)[0][0]


def shift_first_seen(project: Project, case_id: str, days: float) -> None:
    with duckdb.connect(str(project.duckdb_file)) as connection:
        connection.execute(
            f"update konnectnxt.cases set first_seen_at = first_seen_at - to_microseconds({int(days * 86400e6)}) "
            f"where case_id = '{case_id}'"
        )


# ---------------------------------------------------------------- views


def ist_text(moment: datetime) -> str:
    return vendor_time_text(moment.timestamp())


def test_views_agree_with_numbers_computed_independently(project, sandbox):
    sla = {"default": 3, "criminal": 1}
    env = {"SOURCES__KONNECTNXT__SLA_DAYS": json.dumps(sla)}
    backfilled_at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    sandbox.add_case(A, report("in_progress", "pending", [check("criminal"), check("employment"), check("address")]))
    sandbox.add_case(B, report("in_progress", "pending", [check("criminal"), check("employment")]))
    sandbox.add_case(
        C,
        report(
            "completed",
            "discrepancy",
            [
                check("criminal", "completed", "discrepancy", ist_text(backfilled_at)),
                check("employment", "completed", "clear", ist_text(backfilled_at)),
            ],
        ),
    )
    assert project.run("--case-id", A, "--case-id", B, "--case-id", C, env=env).returncode == 0

    # Checks complete 1.5 to 40 days after we first saw the cases (in the future: fine for arithmetic).
    now = datetime.now(UTC)
    done = {
        (A, "criminal"): now + timedelta(days=1.5),
        (A, "employment"): now + timedelta(days=10),
        (B, "criminal"): now + timedelta(days=4),
        (B, "employment"): now + timedelta(days=40),
    }
    sandbox.add_case(
        A,
        report(
            "in_progress",
            "pending",
            [
                check("criminal", "completed", "clear", ist_text(done[(A, "criminal")])),
                check("employment", "completed", "minor_discrepancy", ist_text(done[(A, "employment")])),
                check("address"),
            ],
        ),
    )
    sandbox.add_case(
        B,
        report(
            "completed",
            "clear",
            [
                check("criminal", "completed", "clear", ist_text(done[(B, "criminal")])),
                check("employment", "completed", "clear", ist_text(done[(B, "employment")])),
            ],
        ),
    )
    assert project.run("--all-open", env=env).returncode == 0
    shift_first_seen(project, A, 9.5)  # A has been open for 9.5 days: bucket 8-14, address over the 3-day SLA

    cases = {
        r[0]: r[1:]
        for r in rows(project, "select case_id, first_seen_at, status, first_completed_at from konnectnxt.cases")
    }
    checks = rows(
        project, "select case_id, check_key, check_type, category, status, result, completed_at from konnectnxt.checks"
    )
    view_now = rows(project, "select now()")[0][0]

    # check_turnaround: independent quantiles (linear interpolation, like quantile_cont) per type and IST month.
    groups: dict[tuple, list[float]] = {}
    excluded: Counter = Counter()
    for case_id, _key, check_type, _cat, _status, _result, completed_at in checks:
        if completed_at is None:
            continue
        month = completed_at.astimezone(IST).date().replace(day=1)
        first_seen = cases[case_id][0]
        if first_seen < completed_at:
            groups.setdefault((check_type, month), []).append((completed_at - first_seen).total_seconds() / 86400)
        else:
            excluded[(check_type, month)] += 1
    view = {(r[0], r[1]): r[2:] for r in rows(project, "select * from konnectnxt.check_turnaround")}
    assert set(view) == set(groups) | set(excluded)
    for key, values in groups.items():
        checks_n, excluded_n, p50, p90, p95 = view[key]
        assert (checks_n, excluded_n) == (len(values), excluded[key])
        for quantile, got in [(0.5, p50), (0.9, p90), (0.95, p95)]:
            assert math.isclose(got, linear_quantile(values, quantile), rel_tol=1e-6), (key, quantile)
    for key, n in excluded.items():
        if key not in groups:
            assert view[key][:2] == (0, n) and view[key][2] is None

    # discrepancy_rates: shares among completed checks per type and category.
    completed = [(t, cat, res) for _c, _k, t, cat, status, res, _d in checks if status == "completed"]
    totals = Counter((t, cat) for t, cat, _ in completed)
    expected = {
        (t, cat, res): (n, totals[(t, cat)], n / totals[(t, cat)]) for (t, cat, res), n in Counter(completed).items()
    }
    got = {r[:3]: r[3:] for r in rows(project, "select * from konnectnxt.discrepancy_rates")}
    assert got.keys() == expected.keys()
    for key, (n, total, share) in expected.items():
        assert got[key][:2] == (n, total) and math.isclose(got[key][2], share)

    # case_overview: counts by result, whole-day age, turnaround only for cases open when first seen.
    overview = {
        r[0]: r
        for r in rows(
            project,
            "select case_id, checks_total, checks_clear, checks_pending, age_days, "
            "turnaround_days from konnectnxt.case_overview",
        )
    }
    for case_id, (first_seen, status, first_completed) in cases.items():
        results = [c[5] for c in checks if c[0] == case_id]
        assert overview[case_id][1:4] == (len(results), results.count("clear"), results.count("pending"))
        assert overview[case_id][4] == math.floor((view_now - first_seen).total_seconds() / 86400)
        if status in ("completed", "rejected") and first_completed > first_seen:
            assert math.isclose(overview[case_id][5], (first_completed - first_seen).total_seconds() / 86400)
        else:
            assert overview[case_id][5] is None
    assert overview[A][4] == 9

    # open_cases_aging: A is the only open case, 9 days old, waiting on address.
    assert rows(
        project, "select age_bucket, waiting_on, open_cases, open_cases_in_bucket from konnectnxt.open_cases_aging"
    ) == [("8-14", "address", 1, 1)]

    # sla_breaches: elapsed = completed_at (or now) - first_seen_at, over the type's SLA or the default.
    breaches = set()
    for case_id, key, check_type, _cat, status, _res, completed_at in checks:
        first_seen = cases[case_id][0]
        if completed_at is None and status == "completed" or completed_at is not None and completed_at <= first_seen:
            continue
        elapsed = ((completed_at or view_now) - first_seen).total_seconds() / 86400
        if elapsed > sla.get(check_type, sla["default"]):
            breaches.add((case_id, key))
    assert set(rows(project, "select case_id, check_key from konnectnxt.sla_breaches")) == breaches
    assert (A, "address") in breaches and (B, "criminal") in breaches and (C, "criminal") not in breaches
    assert rows(project, "select check_type, sla_days from konnectnxt.sla_targets order by 1") == sorted(sla.items())


def test_settings_the_views_read_follow_every_change_and_every_run_has_its_row(project, sandbox):
    sandbox.add_case(A, report("in_progress", "pending", [check("criminal")]))
    settings = [
        {},
        {},  # unchanged: only the runs row is new
        {"SOURCES__KONNECTNXT__SLA_DAYS": json.dumps({"default": 4, "criminal": 1.5})},
        {"SOURCES__KONNECTNXT__SLA_DAYS": json.dumps({"default": 4}), "SOURCES__KONNECTNXT__REPORT_TIMEZONE": "UTC"},
    ]
    for index, env in enumerate(settings):
        args = ("--case-id", A) if index == 0 else ("--all-open", "--refresh-completed")
        result = project.run(*args, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
    assert rows(project, "select check_type, sla_days from konnectnxt.sla_targets") == [("default", 4.0)]
    assert rows(project, "select report_timezone from konnectnxt.report_settings") == [("UTC",)]
    runs = rows(
        project,
        "select exit_code, cases_tracked, error, pipeline_version is not null, finished_at >= started_at "
        "from konnectnxt.runs order by started_at",
    )
    assert runs == [(0, 1, None, True, True)] * len(settings)
    # Rows and settings went in by SQL: no run made a load package for them.
    in_a_load = rows(
        project,
        "select count(*) from konnectnxt._dlt_loads where load_id in "
        "(select _dlt_load_id from konnectnxt.runs union all select _dlt_load_id from konnectnxt.sla_targets)",
    )
    assert in_a_load == [(0,)]


def linear_quantile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between closest ranks (what quantile_cont computes)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


# ---------------------------------------------------------------- personal data


def pii_report():
    return report(
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


def test_hash_mode_without_salt_exits_2(project):
    result = project.run("--case-id", A, env={"SOURCES__KONNECTNXT__PII": "hash"})
    assert result.returncode == 2
    assert "pii_salt" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    bad = project.run("--case-id", A, env={"SOURCES__KONNECTNXT__PII": "encrypt"})
    assert bad.returncode == 2 and "[sources.konnectnxt] pii is malformed" in bad.stderr


# ---------------------------------------------------------------- forget


def test_forget_removes_a_case_everywhere_and_only_case_id_brings_it_back(project, sandbox):
    sandbox.add_case(A, pii_report())
    sandbox.add_case(B, report("in_progress", "pending", [check("criminal")], name="Other Person"))
    ids_file = project.write("ids.txt", f"{A}\n{B}\n")
    assert project.run("--cases-file", str(ids_file)).returncode == 0
    assert project.run("--all-open", "--refresh-completed").returncode == 0

    forgot = project.run("--forget", A)
    assert forgot.returncode == 0, forgot.stderr
    assert re.search(rf"{A}: removed 1 from tracked_cases, 1 from cases, 2 from checks, 1 from entries", forgot.stdout)
    for table in [
        "tracked_cases",
        "cases",
        "checks",
        "entries",
        "check_fields",
        "check_documents",
        "fetch_errors",
        "case_status_history",
        "check_status_history",
    ]:
        assert count(project, f"select count(*) from konnectnxt.{table} where case_id = '{A}'") == 0, table
    assert count(project, f"select count(*) from konnectnxt.cases where case_id = '{B}'") == 1
    assert [r[0] for r in rows(project, "select case_id from konnectnxt.forgotten_cases")] == [A]
    forgotten_columns = {
        c[0] for c in rows(project, "describe konnectnxt.forgotten_cases") if not c[0].startswith("_dlt")
    }
    assert forgotten_columns == {"case_id", "forgotten_at"}
    for path in [project.duckdb_file, *project.data_dir.rglob("*")]:
        if path.is_file():
            assert b"Unique-Candidate" not in path.read_bytes(), path
    assert b"Other Person" in project.duckdb_file.read_bytes()

    skipped = project.run("--cases-file", str(ids_file))
    assert skipped.returncode == 0
    assert f"skipped forgotten case {A}" in skipped.stderr
    assert count(project, f"select count(*) from konnectnxt.tracked_cases where case_id = '{A}'") == 0

    back = project.run("--case-id", A)
    assert back.returncode == 0, back.stderr
    assert count(project, f"select count(*) from konnectnxt.cases where case_id = '{A}'") == 1
    assert count(project, "select count(*) from konnectnxt.forgotten_cases") == 0


def test_forget_rejects_a_bad_id_and_other_flags(project):
    assert project.run("--forget", "nope").returncode == 2
    mixed = project.run("--forget", A, "--all-open")
    assert mixed.returncode == 2 and "--forget runs alone" in mixed.stderr
