"""Fault injection: the real CLI against a misbehaving sandbox, killed processes, overlapping runs, busy files.

Each test names the guarantee it proves; the README's "What happens when..." lists them.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time
from email.utils import formatdate
from pathlib import Path

import duckdb
import pytest

from conftest import (
    TEST_API_KEY,
    FakeClock,
    Project,
    ids,
    ids_file,
    new_project,
    serve_cases,
    snapshot,
    wait_for_requests,
)
from konnectnxt.demo.sandbox import Fault, Sandbox
from konnectnxt.settings import NOT_FOUND_MIN_ATTEMPTS

DAY = 86400.0


def count(project: Project, sql: str) -> int:
    return project.query(sql)[0][0]


def last_run(project: Project) -> dict:
    columns = [c[0] for c in project.query("describe konnectnxt.runs")]
    row = project.query("select * from konnectnxt.runs order by started_at desc limit 1")[0]
    return dict(zip(columns, row, strict=True))


# ---------------------------------------------------------------- faults from the API


def test_every_transient_fault_is_retried_and_the_run_succeeds(project, sandbox):
    faults = [
        Fault("status", status=429, retry_after="1", message="Too many requests"),
        Fault("status", status=429, retry_after=formatdate(time.time() + 1, usegmt=True)),
        Fault("status", status=500),
        Fault("status", status=502),
        Fault("status", status=503),
        Fault("status", status=504),
        Fault("html", status=502),
        Fault("truncated"),
        Fault("not_json"),
        Fault("envelope_error", status=503, message="Upstream busy"),
        Fault("reset"),
        Fault("slow", delay=2.5),
    ]
    case_ids = ids(len(faults))
    serve_cases(sandbox, case_ids)
    for case_id, fault in zip(case_ids, faults, strict=True):
        fault.case_id = case_id
        sandbox.add_fault(fault)
    result = project.run("--cases-file", ids_file(project, case_ids), env={"SOURCES__KONNECTNXT__REQUEST_TIMEOUT": "1"})
    assert result.returncode == 0, result.stderr
    time.sleep(2.5)  # the sandbox records the abandoned slow request only when it finally answers
    assert [len(sandbox.requests_for(case_id)) for case_id in case_ids] == [2] * len(faults)
    assert count(project, "select count(*) from konnectnxt.fetch_errors") == 0
    assert count(project, "select count(*) from konnectnxt.cases") == len(faults)
    assert last_run(project)["retries"] == len(faults)


def test_a_case_that_keeps_failing_is_recorded_backs_off_and_does_not_stop_the_others(project, sandbox):
    broken, *healthy = ids(4)
    serve_cases(sandbox, [broken, *healthy])
    sandbox.add_fault(Fault("status", broken, times=None, status=503, message="Service unavailable"))
    result = project.run("--cases-file", ids_file(project, [broken, *healthy]))
    assert result.returncode == 1
    assert re.search(r"failed:\s+1\b", result.stdout) and broken in result.stderr
    assert project.query("select http_status, error_message, attempts from konnectnxt.fetch_errors") == [
        (503, "HTTP 503: Service unavailable", 4)
    ]
    assert count(project, "select count(*) from konnectnxt.cases") == 3
    backoff = project.query(
        "select consecutive_failures, last_error, extract(epoch from next_poll_at - last_polled_at) "
        f"from konnectnxt.tracked_cases where case_id = '{broken}'"
    )
    assert backoff == [(1, "HTTP 503: Service unavailable", 30)]
    again = project.run("--all-open")
    assert again.returncode == 1
    assert project.query(
        "select consecutive_failures, extract(epoch from next_poll_at - last_polled_at) "
        f"from konnectnxt.tracked_cases where case_id = '{broken}'"
    ) == [(2, 60)]
    run = last_run(project)
    assert (run["exit_code"], run["cases_failed"], run["cases_fetched"]) == (1, 1, 3)


def test_a_dead_api_cannot_make_a_run_last_for_hours(project, sandbox):
    case_ids = ids(30)
    serve_cases(sandbox, case_ids)
    sandbox.add_fault(Fault("status", None, times=None, status=503))
    started = time.monotonic()
    result = project.run(
        "--cases-file", ids_file(project, case_ids), env={"SOURCES__KONNECTNXT__MAX_RETRIES_PER_RUN": "10"}
    )
    assert result.returncode == 1
    assert len(sandbox.requests) == 30 + 10
    assert count(project, "select count(*) from konnectnxt.fetch_errors") == 30
    assert time.monotonic() - started < 60
    run = last_run(project)
    assert (run["requests"], run["retries"], run["cases_failed"]) == (40, 10, 30)


def test_an_id_that_keeps_answering_404_is_marked_not_found_and_comes_back_with_case_id(project, sandbox):
    ghost, real = ids(2)
    serve_cases(sandbox, [real])
    hours = {"SOURCES__KONNECTNXT__NOT_FOUND_AFTER_HOURS": str(1.5 / 3600)}
    first = project.run("--case-id", ghost, "--case-id", real, env=hours)
    assert first.returncode == 1 and re.search(r"failed:\s+1\b", first.stdout)
    time.sleep(1.6)
    for _ in range(NOT_FOUND_MIN_ATTEMPTS - 2):  # the hours alone are not enough: several 404s are
        assert "marked not found" not in project.run("--all-open", env=hours).stdout
    second = project.run("--all-open", env=hours)
    assert second.returncode == 1
    assert "marked not found: 1" in second.stdout and ghost in second.stdout
    assert project.query(
        f"select not_found_at is not null from konnectnxt.tracked_cases where case_id = '{ghost}'"
    ) == [(True,)]
    requests_so_far = len(sandbox.requests_for(ghost))
    third = project.run("--all-open", env=hours)
    assert third.returncode == 0, third.stderr
    assert "1 not found" in third.stdout
    assert len(sandbox.requests_for(ghost)) == requests_so_far
    # A file naming it does not bring it back; --case-id does.
    assert project.run("--cases-file", ids_file(project, [ghost]), env=hours).returncode == 0
    assert len(sandbox.requests_for(ghost)) == requests_so_far
    serve_cases(sandbox, [ghost])
    back = project.run("--case-id", ghost, env=hours)
    assert back.returncode == 0, back.stderr
    assert "1 tracked again" in back.stdout
    assert project.query(f"select status from konnectnxt.cases where case_id = '{ghost}'") == [("in_progress",)]


def test_key_revoked_in_the_middle_of_a_run_changes_nothing_and_exits_2(project, sandbox):
    case_ids = ids(40)
    serve_cases(sandbox, case_ids)
    assert project.run("--cases-file", ids_file(project, case_ids)).returncode == 0
    with duckdb.connect(str(project.duckdb_file)) as connection:  # that fetch was a minute ago
        connection.execute("update konnectnxt.cases set last_fetched_at = last_fetched_at - interval 60 second")
        connection.execute("update konnectnxt.tracked_cases set last_report_at = last_report_at - interval 60 second")
    before = snapshot(project)
    serve_cases(sandbox, case_ids, status="in_audit")
    sandbox.latency = 0.02
    aborted_run_starts = len(sandbox.requests)
    already_answered = sum(r.authorized for r in sandbox.requests)
    sandbox.revoke_keys_after(already_answered + 10)
    result = project.run("--all-open", env={"SOURCES__KONNECTNXT__WORKERS": "3"})
    assert result.returncode == 2
    assert "authentication failed" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(project) == before
    first_401 = next(r.at for r in sandbox.requests if r.status == 401)
    assert len([r for r in sandbox.requests if r.at > first_401]) < 3
    run = last_run(project)
    assert run["exit_code"] == 2 and "authentication failed" in run["error"]

    # The reports that run received were discarded, but they were requests all the same: with the key
    # fixed at once, none of those cases is asked for again within min_poll_interval.
    answered = {r.case_id for r in sandbox.requests[aborted_run_starts:] if r.status == 200}
    assert answered
    sandbox.revoke_keys_after(None)
    sandbox.api_keys.add(TEST_API_KEY)
    sandbox.latency = 0
    requests_before = len(sandbox.requests)
    again = project.run("--all-open", env={"SOURCES__KONNECTNXT__MIN_POLL_INTERVAL": "15"})
    assert again.returncode == 0, again.stderr
    asked_again = {r.case_id for r in sandbox.requests[requests_before:]}
    assert asked_again and not asked_again & answered


# ---------------------------------------------------------------- bad input and surprising data


def test_bad_case_id_inputs_give_one_clear_line(project, sandbox):
    a, b = ids(2)
    serve_cases(sandbox, [a, b])
    files = {
        "empty.json": "",
        "other.json": json.dumps({"success": True, "data": {"recruiter_id": 1}}),
        "people.csv": "name,email\nAsha,asha@example.com\n",
    }
    for name, content in files.items():
        result = project.run("--cases-file", str(project.write(name, content)))
        assert result.returncode == 2, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and "Traceback" not in result.stderr
    messy = project.write(
        "messy.txt",
        f"\ufeff{a.upper()}\r\n  {a}  \r\n\r\n{b[:8]}-{b[8:12]}-{b[12:16]}-{b[16:20]}-{b[20:]}\r\n".encode(),
    )
    result = project.run("--cases-file", str(messy))
    assert result.returncode == 0, result.stderr
    assert sorted(row[0] for row in project.query("select case_id from konnectnxt.tracked_cases")) == [a, b]


def surprising_report(stage: int) -> dict:
    return {
        "reference_id": 2605310236148021,
        "generated_at": "not a timestamp" if stage else "2026-06-15T10:30:00.123456+00:00",
        "status": "on_hold",
        "result": "escalated",
        "priority": {"level": 2, "reasons": ["vip"]},
        "candidate": {"name": "Zoë D'Souza", "photo": None},
        "summary": {"total": 2, "escalated": 1},
        "checks": [
            {
                "type": "drug_panel_v2",
                "name": "Drug Panel",
                "status": "completed",
                "result": "escalated",
                "completed_at": "next tuesday",
                "sla_days": "five" if stage else 5,
                "lab": {"name": "Metro Labs", "accredited": True},
                "entries": [{"panel": "10-panel", "pincode": "560034A" if stage else 560034, "markers": ["THC"]}],
                "fields": None,
            },
            {"type": "criminal", "status": "in_progress", "result": "pending", "documents": None},
        ],
    }


def test_surprising_reports_are_kept_whole_and_never_fail_the_run(project, sandbox):
    odd, empty = ids(2)
    sandbox.add_case(odd, lambda now: surprising_report(0))
    sandbox.add_case(empty, {"status": "in_progress", "checks": [], "summary": None, "candidate": None})
    first = project.run("--case-id", odd, "--case-id", empty)
    assert first.returncode == 0, first.stderr
    assert "completed_at texts not understood: 1" in first.stdout
    case = project.query(
        f"select status, result, reference_id, priority, summary_escalated from konnectnxt.cases where case_id = '{odd}'"
    )
    assert case == [("on_hold", "escalated", "2605310236148021", '{"level":2,"reasons":["vip"]}', 1)]
    check = project.query(
        "select check_type, result, completed_at, completed_at_raw, sla_days, lab "
        f"from konnectnxt.checks where case_id = '{odd}' and check_key = 'drug_panel_v2'"
    )
    assert check == [("drug_panel_v2", "escalated", None, "next tuesday", 5, '{"name":"Metro Labs","accredited":true}')]
    assert project.query(f"select panel, pincode, markers from konnectnxt.entries where case_id = '{odd}'") == [
        ("10-panel", 560034, '["THC"]')
    ]
    assert count(project, f"select count(*) from konnectnxt.checks where case_id = '{empty}'") == 0

    sandbox.add_case(odd, lambda now: surprising_report(1))
    second = project.run("--all-open")
    assert second.returncode == 0, second.stderr
    assert project.query(
        "select sla_days, sla_days__v_text from konnectnxt.checks where check_key = 'drug_panel_v2'"
    ) == [(None, "five")]
    assert project.query("select pincode, pincode__v_text from konnectnxt.entries") == [(None, "560034A")]
    assert project.query(
        f"select generated_at, generated_at__v_text from konnectnxt.cases where case_id = '{odd}'"
    ) == [(None, "not a timestamp")]
    # on_hold is not terminal: the case is polled again.
    assert len(sandbox.requests_for(odd)) == 2


# ---------------------------------------------------------------- crashes and concurrency


def kill_world(sandbox, clock, count_: int = 120) -> list[str]:
    case_ids = ids(count_, offset=1000)
    for case_id in case_ids:
        sandbox.add_generated_case(case_id, opened_at=clock.now - 5 * DAY, span_seconds=10 * DAY)
    return case_ids


def business_state(project: Project) -> dict:
    """What an uninterrupted run must also produce: report rows without timestamps or dlt columns."""
    skip = {"first_seen_at", "last_fetched_at", "_tombstone"}
    state = {}
    for table in ["cases", "checks", "entries", "check_fields", "check_documents"]:
        columns = sorted(
            c[0]
            for c in project.query(f"describe konnectnxt.{table}")
            if not c[0].startswith("_dlt") and c[0] not in skip
        )
        rows = project.query(
            f"select {', '.join(f'{c!r}'.replace(chr(39), chr(34)) for c in columns)} from konnectnxt.{table}"
        )
        state[table] = (columns, sorted(map(repr, rows)))
    state["tracked"] = sorted(row[0] for row in project.query("select case_id from konnectnxt.tracked_cases"))
    return state


NEWCOMER = ids(1, offset=5000)[0]


def serve_kill_world(sandbox, clock) -> list[str]:
    case_ids = kill_world(sandbox, clock)
    serve_cases(sandbox, [NEWCOMER])
    return case_ids


@pytest.fixture(scope="module")
def uninterrupted_state(tmp_path_factory) -> dict:
    """The end state of the same two runs without a kill, in its own project dir and sandbox.

    The world is a pure function of the case ids and the fake clock's start, so each test's sandbox
    serves the same reports.
    """
    clock = FakeClock()
    with Sandbox(api_key=TEST_API_KEY, clock=clock) as sandbox:
        case_ids = serve_kill_world(sandbox, clock)
        reference = new_project(tmp_path_factory.mktemp("uninterrupted"), sandbox)
        assert reference.run("--cases-file", ids_file(reference, case_ids)).returncode == 0
        assert reference.run("--case-id", NEWCOMER).returncode == 0
        return {"state": business_state(reference), "case_ids": case_ids}


def pending_packages(project: Project) -> list[Path]:
    working_dir = project.data_dir / "pipelines" / "bgv"
    folders = [working_dir / "normalize" / "extracted", working_dir / "load" / "normalized"]
    return [package for folder in folders if folder.exists() for package in folder.iterdir()]


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    process.kill()
    raise AssertionError(f"no line matching {pattern!r} on stderr: {''.join(seen)}")


@pytest.mark.parametrize("step", ["fetching", "normalize", "load"])
def test_a_run_killed_at_any_step_loses_and_duplicates_nothing(project, sandbox, clock, uninterrupted_state, step):
    case_ids = serve_kill_world(sandbox, clock)
    assert case_ids == uninterrupted_state["case_ids"]
    sandbox.latency = 0.01
    process = project.start("--cases-file", ids_file(project, case_ids))
    if step == "fetching":
        wait_for_requests(sandbox, 30)
    elif step == "normalize":
        wait_for_line(process, r"INFO bgv: normalizing")
    else:
        wait_for_line(process, r"INFO bgv: loading into")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    sandbox.latency = 0
    if step != "fetching":
        assert pending_packages(project), "the kill did not land while a load package was in flight"

    # The next plain run names only new work; the ids handed to the killed run were stored before it fetched.
    rerun = project.run("--case-id", NEWCOMER)
    assert rerun.returncode == 0, rerun.stderr
    assert business_state(project) == uninterrupted_state["state"]
    assert count(project, "select count(*) from konnectnxt.cases") == len(case_ids) + 1


def test_a_second_run_exits_2_while_the_first_runs_and_a_dead_runs_lock_is_taken_over(project, sandbox):
    case_ids = ids(20)
    serve_cases(sandbox, case_ids)
    sandbox.latency = 0.3
    first = project.start("--cases-file", ids_file(project, case_ids), env={"SOURCES__KONNECTNXT__WORKERS": "1"})
    wait_for_requests(sandbox, 1)
    second = project.run("--all-open")
    assert second.returncode == 2
    assert re.search(rf"another run is in progress: host \S+ pid {first.pid} since \d{{4}}-\d\d-\d\dT", second.stderr)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    sandbox.latency = 0
    third = project.run("--all-open")
    assert third.returncode == 0, third.stderr
    assert count(project, "select count(*) from konnectnxt.cases") == 20


def test_a_reader_holding_the_file_makes_the_run_wait_then_exit_2_naming_it(project, sandbox):
    first_ids, later_ids = ids(3), ids(3, offset=100)
    serve_cases(sandbox, first_ids + later_ids)
    assert project.run("--cases-file", ids_file(project, first_ids)).returncode == 0
    before = snapshot(project)
    reader = duckdb.connect(str(project.duckdb_file), read_only=True)
    try:
        started = time.monotonic()
        result = project.run(
            "--case-id", later_ids[0], "--all-open", env={"SOURCES__KONNECTNXT__LOCK_WAIT_SECONDS": "2"}
        )
        waited = time.monotonic() - started
    finally:
        reader.close()
    assert result.returncode == 2
    assert "is busy" in result.stderr and f"process {os.getpid()}" in result.stderr
    assert waited >= 2
    assert snapshot(project) == before
    assert len(sandbox.requests) == 3


def test_a_reader_that_lets_go_in_time_only_delays_the_run(project, sandbox):
    case_ids = ids(3)
    serve_cases(sandbox, case_ids)
    assert project.run("--cases-file", ids_file(project, case_ids)).returncode == 0
    reader = duckdb.connect(str(project.duckdb_file), read_only=True)
    threading.Timer(1.5, reader.close).start()
    result = project.run("--all-open", env={"SOURCES__KONNECTNXT__LOCK_WAIT_SECONDS": "30"})
    assert result.returncode == 0, result.stderr
    assert "is busy" in result.stderr and "waiting up to 30 s" in result.stderr


def test_a_package_that_can_never_load_is_discarded_and_cron_is_not_stuck(project, sandbox):
    first, second = ids(2)
    serve_cases(sandbox, [first, second])
    assert project.run("--case-id", first).returncode == 0
    project.leave_pending_registration("f" * 32, "poison")
    jobs = list((project.data_dir / "pipelines" / "bgv" / "load" / "normalized").rglob("*.parquet"))
    assert jobs
    for job in jobs:
        job.write_bytes(b"this is not a parquet file")
    result = project.run("--case-id", second)
    assert result.returncode == 0, result.stderr
    assert "discarded the data a previous run left pending" in result.stdout
    assert count(project, f"select count(*) from konnectnxt.cases where case_id = '{second}'") == 1
    assert project.run("--all-open").returncode == 0
    assert count(project, "select count(*) from konnectnxt.tracked_cases where source = 'poison'") == 0


# ---------------------------------------------------------------- observability and security


def test_every_run_that_read_its_configuration_is_in_runs(project, sandbox):
    good, missing = ids(2)
    serve_cases(sandbox, [good])
    assert project.run("--case-id", good).returncode == 0
    assert project.run("--case-id", missing).returncode == 1
    assert project.run("--all-open", env={"SOURCES__KONNECTNXT__API_KEY": "wrong"}).returncode == 2
    assert project.run("--cases-file", str(project.write("empty.txt", ""))).returncode == 2
    rows = project.query(
        "select exit_code, cases_due, cases_fetched, cases_failed, error is not null, pipeline_version, "
        "finished_at >= started_at from konnectnxt.runs order by started_at"
    )
    assert [row[:5] for row in rows] == [
        (0, 1, 1, 0, False),
        (1, 1, 0, 1, False),
        (2, 2, 0, 0, True),
        (2, 0, 0, 0, True),
    ]
    assert all(row[5] and row[5] != "unknown" and row[6] for row in rows)


def test_logs_are_one_line_per_event_with_time_and_level(project, sandbox):
    case_ids = ids(25)
    serve_cases(sandbox, case_ids)
    result = project.run("--cases-file", ids_file(project, case_ids))
    assert result.returncode == 0
    lines = result.stderr.strip().splitlines()
    assert lines and all(
        re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} (INFO|WARNING|ERROR|DEBUG) ", line) for line in lines
    )
    assert len(lines) < 20  # progress in tenths, not a line per case


def test_secret_files_and_databases_are_ignored_by_git():
    repo = Path(__file__).parent.parent
    for path in [".dlt/secrets.toml", "bgv.duckdb", "bgv_demo.duckdb", "data/other.duckdb"]:
        checked = subprocess.run(["git", "check-ignore", "-q", path], cwd=repo, check=False)
        assert checked.returncode == 0, f"{path} is not git-ignored"


def test_a_case_the_key_may_not_read_never_stops_the_other_cases(project, sandbox):
    readable = ids(5)
    forbidden = ids(1, offset=900)[0]
    serve_cases(sandbox, [*readable, forbidden])
    assert project.run("--cases-file", ids_file(project, readable)).returncode == 0
    sandbox.add_fault(Fault("status", forbidden, times=None, status=403, message="Not your case"))
    for _ in range(3):
        result = project.run("--case-id", forbidden, "--all-open")
        assert result.returncode == 1, result.stderr
        assert "authentication failed" not in result.stderr
    assert count(project, f"select count(*) from konnectnxt.fetch_errors where case_id = '{forbidden}'") == 3
    assert all(len(sandbox.requests_for(case_id)) == 4 for case_id in readable)
