"""The pipeline driven only through its command line, against the sandbox, into real DuckDB files."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb

from conftest import TEST_API_KEY, Project, snapshot
from konnectnxt.demo.fake_reports import demo_case_ids
from konnectnxt.demo.sandbox import Fault
from konnectnxt.run_lock import run_lock

OPEN = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
SHRINKING = "6bc26096dfe54c44937b27063820dc28"
MISSING = "0123456789abcdef0123456789abcdef"
DAY = 86400.0


def shrinking_report(stage: int) -> dict:
    """A case whose checks, entries, fields and documents disappear as it progresses."""
    employment = {
        "type": "employment",
        "name": "Employment Verification",
        "category": "Employment",
        "status": "in_progress",
        "result": "pending",
        "completed_at": None,
        "entries": [
            {"employer": "Infosys", "status": "completed", "result": "clear"},
            {"employer": "Wipro", "status": "in_progress", "result": "pending"},
        ],
    }
    identity = {
        "type": "identity_aadhaar",
        "name": "Aadhaar Verification",
        "category": "Identity",
        "status": "completed",
        "result": "clear",
        "completed_at": "13 May, 2026, 11:02",
        "fields": [{"label": "Name", "value": "Nallala Vivek"}, {"label": "Aadhaar Number", "value": "xxxxxxxx8300"}],
        "documents": ["https://storage.googleapis.com/konnectnxt/aadhaar/page_1.png"],
    }
    checks = (
        [employment, dict(employment, entries=[]), identity]
        if stage == 0
        else [dict(identity, fields=None, documents=[])]
    )
    return {
        "reference_id": "2605310236148021",
        "generated_at": f"2026-06-15T10:3{stage}:00.123456+00:00",
        "status": "in_progress" if stage == 0 else "in_audit",
        "result": "pending",
        "candidate": {"name": "Vivek Patel", "photo": "https://example.invalid/p.png"},
        "summary": {"total": len(checks), "clear": 1, "pending": len(checks) - 1},
        "checks": checks,
    }


def count(project: Project, sql: str) -> int:
    return project.query(sql)[0][0]


def assert_no_duplicates(project: Project) -> None:
    keys = {
        "cases": "case_id",
        "checks": "case_id, check_key",
        "entries": "case_id, check_key, entry_index",
        "check_fields": "case_id, check_key, field_index",
        "check_documents": "case_id, check_key, document_index",
        "tracked_cases": "case_id",
    }
    for table, key in keys.items():
        total = count(project, f"select count(*) from konnectnxt.{table}")
        distinct = count(project, f"select count(*) from (select distinct {key} from konnectnxt.{table})")
        assert total == distinct, f"duplicate rows in {table}"


def test_lifecycle_repolls_open_cases_drops_stale_rows_and_never_requests_terminal_cases(project, sandbox, clock):
    timeline = sandbox.add_generated_case(OPEN, opened_at=clock.now - DAY, span_seconds=2 * DAY)
    sandbox.add_case(SHRINKING, lambda now: shrinking_report(0))

    first = project.run("--case-id", OPEN, "--case-id", SHRINKING.upper(), "--case-id", MISSING)
    assert first.returncode == 1, first.stderr  # MISSING answers 404
    assert re.search(r"fetched:\s+2\b", first.stdout) and re.search(r"failed:\s+1\b", first.stdout)
    assert count(project, "select count(*) from konnectnxt.tracked_cases") == 3
    assert project.query("select status from konnectnxt.cases order by case_id") == [("in_progress",), ("in_progress",)]
    assert project.query(f"select http_status, attempts from konnectnxt.fetch_errors where case_id = '{MISSING}'") == [
        (404, 1)
    ]
    assert count(project, f"select count(*) from konnectnxt.checks where case_id = '{SHRINKING}'") == 3
    assert project.query(f"select check_key from konnectnxt.checks where case_id = '{SHRINKING}' order by 1") == [
        ("employment",),
        ("employment#2",),
        ("identity_aadhaar",),
    ]
    assert count(project, f"select count(*) from konnectnxt.entries where case_id = '{SHRINKING}'") == 2
    assert count(project, f"select count(*) from konnectnxt.check_fields where case_id = '{SHRINKING}'") == 2
    open_checks_before = count(project, f"select count(*) from konnectnxt.checks where case_id = '{OPEN}'")
    assert open_checks_before == len(timeline.checks)
    assert_no_duplicates(project)

    # The shrinking case loses its multi-part checks; the open one progresses; the missing one appears.
    sandbox.add_case(SHRINKING, lambda now: shrinking_report(1))
    sandbox.add_case(MISSING, {"status": "completed", "result": "clear", "checks": []})
    clock.now = timeline.audit_at + 1
    second = project.run("--all-open")
    assert second.returncode == 0, second.stderr + second.stdout
    assert project.query(f"select status from konnectnxt.cases where case_id = '{OPEN}'") == [("in_audit",)]
    assert project.query(f"select check_key from konnectnxt.checks where case_id = '{SHRINKING}'") == [
        ("identity_aadhaar",)
    ]
    for table in ["entries", "check_fields", "check_documents"]:
        assert count(project, f"select count(*) from konnectnxt.{table} where case_id = '{SHRINKING}'") == 0, table
    assert count(project, f"select count(*) from konnectnxt.checks where case_id = '{OPEN}'") == open_checks_before
    assert count(project, f"select count(*) from konnectnxt.checks where case_id = '{MISSING}'") == 0
    assert project.query(f"select status from konnectnxt.cases where case_id = '{MISSING}'") == [("completed",)]
    assert count(project, "select count(*) from konnectnxt.checks where _tombstone") == 0
    assert_no_duplicates(project)

    clock.now = timeline.closed_at + 1
    third = project.run("--all-open")
    assert third.returncode == 0, third.stderr
    assert re.search(r"newly completed:\s+1\b", third.stdout)
    assert project.query(f"select status from konnectnxt.cases where case_id = '{OPEN}'") == [("completed",)]
    completed_requests = {case_id: len(sandbox.requests_for(case_id)) for case_id in (OPEN, MISSING)}

    for _ in range(2):
        again = project.run("--all-open")
        assert again.returncode == 0, again.stderr
    assert {case_id: len(sandbox.requests_for(case_id)) for case_id in (OPEN, MISSING)} == completed_requests
    assert len(sandbox.requests_for(SHRINKING)) == 5
    assert_no_duplicates(project)
    first_seen = project.query(
        f"select first_seen_at < last_fetched_at from konnectnxt.cases where case_id = '{SHRINKING}'"
    )
    assert first_seen == [(True,)]


def test_plain_run_polls_only_what_is_due(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "result": "pending", "checks": []})
    assert project.run("--case-id", OPEN).returncode == 0
    quiet = project.run()
    assert quiet.returncode == 0, quiet.stderr
    assert re.search(r"due:\s+0\b", quiet.stdout)
    assert len(sandbox.requests_for(OPEN)) == 1
    next_poll = project.query("select next_poll_at - last_polled_at from konnectnxt.tracked_cases")[0][0]
    assert next_poll.total_seconds() == 30


def test_min_poll_interval_holds_even_with_all_open(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "result": "pending", "checks": []})
    polite = {"SOURCES__KONNECTNXT__MIN_POLL_INTERVAL": "15"}
    assert project.run("--case-id", OPEN, env=polite).returncode == 0
    assert project.run("--all-open", env=polite).returncode == 0
    assert len(sandbox.requests_for(OPEN)) == 1


def test_refresh_completed_refetches_terminal_cases(project, sandbox):
    sandbox.add_case(OPEN, {"status": "completed", "result": "clear", "checks": []})
    assert project.run("--case-id", OPEN).returncode == 0
    assert project.run("--all-open").returncode == 0
    assert len(sandbox.requests_for(OPEN)) == 1
    sandbox.add_case(OPEN, {"status": "in_audit", "result": "pending", "checks": []})
    assert project.run("--refresh-completed").returncode == 0
    assert len(sandbox.requests_for(OPEN)) == 2
    assert project.query("select status from konnectnxt.cases") == [("in_audit",)]


def test_cases_file_registers_every_id_of_a_submit_response(project, sandbox):
    ids = [f"{i:032x}" for i in range(1, 6)]
    for case_id in ids:
        sandbox.add_case(case_id, {"status": "in_progress", "result": "pending", "checks": []})
    response = {
        "success": True,
        "message": "ok",
        "data": {
            "recruiter_id": 1,
            "organization": "Acme",
            "candidates_processed": 5,
            "total_cost": 0,
            "cases_created": [{"candidate_id": i, "case_id": i, "name": "N", "email": "e"} for i in ids],
        },
    }
    path = project.write("submit_response.json", response)
    result = project.run("--cases-file", str(path))
    assert result.returncode == 0, result.stderr
    assert project.query("select case_id, source from konnectnxt.tracked_cases order by 1") == [
        (i, "submit_response.json") for i in ids
    ]
    assert count(project, "select count(*) from konnectnxt.cases") == 5
    # Naming the file again changes nothing: ids are never registered twice.
    assert project.run("--cases-file", str(path)).returncode == 0
    assert count(project, "select count(*) from konnectnxt.tracked_cases") == 5


def test_config_case_ids_are_tracked(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "result": "pending", "checks": []})
    result = project.run(env={"SOURCES__KONNECTNXT__CASE_IDS": json.dumps([OPEN.upper()])})
    assert result.returncode == 0, result.stderr
    assert project.query("select case_id, source from konnectnxt.tracked_cases") == [(OPEN, "config")]


def test_bad_line_in_a_cases_file_exits_1_after_loading_the_rest(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "result": "pending", "checks": []})
    path = project.write("ids.txt", f"{OPEN}\nnot-a-case\n")
    result = project.run("--cases-file", str(path))
    assert result.returncode == 1
    assert "ids.txt:2" in result.stderr and "ids.txt:2" in result.stdout
    assert count(project, "select count(*) from konnectnxt.cases") == 1


def test_authentication_failure_exits_2_and_changes_no_data(project, sandbox, clock):
    timeline = sandbox.add_generated_case(OPEN, opened_at=clock.now - DAY, span_seconds=2 * DAY)
    sandbox.add_case(SHRINKING, lambda now: shrinking_report(0))
    assert project.run("--case-id", OPEN, "--case-id", SHRINKING, "--case-id", MISSING).returncode == 1
    before = snapshot(project)

    clock.now = timeline.closed_at + 1
    sandbox.add_case(MISSING, {"status": "in_progress", "checks": []})
    requests_before = len(sandbox.requests)
    newcomer = "fedcba9876543210fedcba9876543210"
    result = project.run("--all-open", "--case-id", newcomer, env={"SOURCES__KONNECTNXT__API_KEY": "revoked-key"})
    assert result.returncode == 2
    assert "authentication failed" in result.stderr
    failure_lines = [line for line in result.stderr.splitlines() if "authentication failed" in line]
    assert len(failure_lines) == 1 and re.match(r"\d{4}-\d\d-\d\dT\S+ bgv: authentication failed", failure_lines[0])
    assert "Traceback" not in result.stderr
    assert len(sandbox.requests) == requests_before + 1
    after = snapshot(project)
    registered = [row for row in after["tracked_cases"] if row[0] == newcomer]
    after["tracked_cases"] = [row for row in after["tracked_cases"] if row[0] != newcomer]
    assert after == before
    assert registered == [(newcomer, None, None, 0, 0, None, None, None)]


def test_403_on_first_request_is_an_authentication_failure(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "checks": []})
    sandbox.add_fault(Fault("status", None, times=1, status=403, message="Forbidden"))
    result = project.run("--case-id", OPEN)
    assert result.returncode == 2 and "authentication failed" in result.stderr
    assert count(project, "select count(*) from konnectnxt.tracked_cases") == 1


def test_api_key_appears_nowhere_the_pipeline_writes(project, sandbox):
    sandbox.add_case(
        OPEN, {"status": "in_progress", "checks": [{"type": "criminal", "status": "in_progress", "result": None}]}
    )
    echo = f"upstream rejected Authorization: Bearer {TEST_API_KEY}"
    sandbox.add_fault(Fault("status", OPEN, times=None, status=500, message=echo))
    outputs = [project.run("--case-id", OPEN, "--case-id", MISSING, "--verbose")]
    sandbox.faults.clear()
    outputs.append(project.run("--all-open", "--verbose"))
    outputs.append(project.run("--all-open", "--verbose", env={"SOURCES__KONNECTNXT__API_KEY": TEST_API_KEY + "x"}))
    assert [o.returncode for o in outputs] == [1, 1, 2]
    secret = TEST_API_KEY.encode()
    for output in outputs:
        assert TEST_API_KEY not in output.stdout + output.stderr
    written = [p for p in project.root.rglob("*") if p.is_file()]
    assert project.duckdb_file in written and any("dlt_data" in str(p) for p in written)
    leaks = [str(p) for p in written if secret in p.read_bytes()]
    assert leaks == []
    assert project.query("select distinct error_message from konnectnxt.fetch_errors where http_status = 500") == [
        ("HTTP 500: upstream rejected Authorization: Bearer ***",)
    ]


def test_nothing_tracked_says_how_to_add_cases(project):
    result = project.run()
    assert result.returncode == 0, result.stderr
    assert "no cases are tracked yet" in result.stdout and "--case-id" in result.stdout


def test_usage_and_input_errors_exit_2_with_one_line(project):
    project.write("empty.txt", "")
    cases = [
        (["--case-id", "nope"], "--case-id: 'nope' is not a case id"),
        (["--cases-file", "missing.json"], "missing.json: file not found"),
        (["--cases-file", "empty.txt"], "empty.txt: file is empty"),
        (["--bogus-flag"], "unrecognized arguments"),
    ]
    for args, message in cases:
        result = project.run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    assert not project.duckdb_file.exists()


def test_missing_api_key_names_both_places_and_demo(project):
    result = project.run("--case-id", OPEN, env={"SOURCES__KONNECTNXT__API_KEY": ""})
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line
    assert ".dlt/secrets.toml" in line and "SOURCES__KONNECTNXT__API_KEY" in line and "--demo" in line


def test_malformed_configuration_names_the_key(project):
    cases = [
        ({"SOURCES__KONNECTNXT__POLL_INTERVALS": "abc"}, "poll_intervals"),
        ({"SOURCES__KONNECTNXT__POLL_INTERVALS": "[30, -1]"}, "poll_intervals"),
        ({"SOURCES__KONNECTNXT__MIN_POLL_INTERVAL": "-5"}, "min_poll_interval"),
        ({"SOURCES__KONNECTNXT__BASE_URL": "bgv.konnectnxt.com/api"}, "base_url"),
        ({"SOURCES__KONNECTNXT__WORKERS": "0"}, "workers"),
        ({"SOURCES__KONNECTNXT__REPORT_TIMEZONE": "Mars/Olympus"}, "report_timezone"),
    ]
    for env, key in cases:
        result = project.run("--case-id", OPEN, env=env)
        assert result.returncode == 2, (env, result.stderr)
        assert f"[sources.konnectnxt] {key} is malformed" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_relative_duckdb_path_is_relative_to_the_project_dir_not_the_cwd(project, sandbox, tmp_path):
    sandbox.add_case(OPEN, {"status": "in_progress", "checks": []})
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = {"DESTINATION__DUCKDB__CREDENTIALS": "data/warehouse.duckdb"}
    (project.root / "data").mkdir()
    result = project.run("--case-id", OPEN, env=env)
    assert result.returncode == 0, result.stderr
    assert (project.root / "data" / "warehouse.duckdb").exists()
    assert str(project.root / "data" / "warehouse.duckdb") in result.stdout


def test_internal_error_exits_3_with_one_line_and_a_log(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "checks": []})
    crash = (
        (
            "import sys, runpy; sys.argv = ['bgv.py', '--case-id', '" + OPEN + "']; "
            "sys.path.insert(0, 'PIPELINES'); import konnectnxt.run; "
            "konnectnxt.run.pick_due = lambda *a, **k: 1 / 0; "
            "runpy.run_path('SCRIPT', run_name='__main__')"
        )
        .replace("PIPELINES", str(Path(__file__).parent.parent / "pipelines"))
        .replace("SCRIPT", str(Path(__file__).parent.parent / "pipelines" / "bgv.py"))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DLT_"))}
    completed = subprocess.run(
        [sys.executable, "-c", crash],
        check=False,
        cwd=project.root,
        env={**env, **project.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 3, completed.stderr
    assert "internal error" in completed.stderr and "Traceback" not in completed.stderr
    log = project.data_dir / "pipelines" / "bgv" / "last_error.log"
    assert log.exists() and "ZeroDivisionError" in log.read_text()


def test_demo_loads_50_cases_into_its_own_file_and_progresses(project):
    first = project.run("--demo", env={"SOURCES__KONNECTNXT__API_KEY": ""})
    assert first.returncode == 0, first.stderr
    demo_file = project.root / "bgv_demo.duckdb"
    assert demo_file.exists() and not project.duckdb_file.exists()
    statuses = dict(project.query("select status, count(*) from konnectnxt.cases group by 1", file=demo_file))
    assert sum(statuses.values()) == 50 and statuses["in_progress"] == 40
    finished_results = (
        "select result, count(*) from konnectnxt.cases where status in ('completed', 'rejected') group by 1"
    )
    assert dict(project.query(finished_results, file=demo_file)) == {
        "clear": 6,
        "minor_discrepancy": 2,
        "discrepancy": 1,
        "not_available": 1,
    }
    assert "konnectnxt.cases" in first.stdout and str(demo_file) in first.stdout
    assert {row[0] for row in project.query("select case_id from konnectnxt.tracked_cases", file=demo_file)} == set(
        demo_case_ids()
    )

    # A minute passes: move the stored demo start back instead of sleeping.
    with duckdb.connect(str(demo_file)) as connection:
        connection.execute(
            "update konnectnxt.tracked_cases set added_at = added_at - interval 60 second, "
            "last_polled_at = last_polled_at - interval 60 second, last_report_at = last_report_at - interval 60 second"
        )
        connection.execute("update konnectnxt.cases set last_fetched_at = last_fetched_at - interval 60 second")
    second = project.run("--demo", env={"SOURCES__KONNECTNXT__API_KEY": ""})
    assert second.returncode == 0, second.stderr
    # The first open case enters audit 45 s after the demo starts.
    changed = int(re.search(r"changed:\s+(\d+)", second.stdout).group(1))
    assert changed >= 1
    assert "in_progress -> in_audit" in second.stdout
    assert not project.duckdb_file.exists()


def test_second_run_exits_2_while_another_holds_the_lock(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "checks": []})
    lock_file = project.data_dir / "pipelines" / "bgv.lock"
    with run_lock(str(lock_file)):
        result = project.run("--case-id", OPEN)
    assert result.returncode == 2
    assert re.search(rf"another run is in progress: host \S+ pid {os.getpid()} since \d{{4}}-", result.stderr)
    assert not sandbox.requests
    # The lock dies with its holder: the next run goes ahead.
    assert project.run("--case-id", OPEN).returncode == 0


def test_data_left_pending_by_an_interrupted_run_is_loaded_before_new_data(project, sandbox):
    sandbox.add_case(OPEN, {"status": "in_progress", "checks": []})
    sandbox.add_case(SHRINKING, {"status": "in_progress", "checks": []})
    assert project.run("--case-id", SHRINKING).returncode == 0
    project.leave_pending_registration(OPEN, "interrupted")
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    assert "loaded the data a previous run left pending" in result.stderr, result.stderr
    assert project.query("select case_id, source from konnectnxt.tracked_cases order by 1") == [
        (SHRINKING, "--case-id"),
        (OPEN, "interrupted"),
    ]
    assert count(project, "select count(*) from konnectnxt.cases") == 2


def test_unreadable_toml_files_name_the_file_and_exit_2(project):
    settings = project.root / ".dlt"
    settings.mkdir()
    for name in ["config.toml", "secrets.toml"]:
        (settings / name).write_text("[sources.konnectnxt]\nworkers = = 3\n")
        result = project.run("--case-id", OPEN)
        assert result.returncode == 2, result.stderr
        assert f"bgv: {name} cannot be read" in result.stderr and "line 2" in result.stderr
        (settings / name).unlink()
