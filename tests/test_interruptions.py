"""Interruptions, crashes mid-forget, clocks and messages: through the real CLI, with real signals."""

import os
import re
import signal
import stat
import subprocess
import time

import duckdb
import pytest
from test_reliability import wait_for_line

from conftest import TEST_API_KEY, Project, ids, ids_file, serve_cases, wait_for_requests

A, B = "a" * 32, "b" * 32


def count(project: Project, sql: str) -> int:
    return project.query(sql)[0][0]


def communicate_or_dump_stacks(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """The process's output once it ends; if it does not within `timeout`, fail with its threads' stacks
    (the CLI prints them on SIGUSR1), so that a run stuck after a signal says where."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGUSR1)
        time.sleep(2)
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"the run did not end within {timeout} s; its stacks:\n{stderr[-20000:]}")


def test_terminal_statuses_are_recognised_in_any_case_and_spacing(project, sandbox):
    sandbox.add_case(
        A,
        {
            "status": " COMPLETED ",
            "result": "clear",
            "checks": [{"type": "criminal", "status": "Completed ", "result": "clear"}],
        },
    )
    sandbox.add_case(B, {"status": "Rejected", "result": "not_available", "checks": []})
    assert project.run("--case-id", A, "--case-id", B).returncode == 0
    again = project.run("--all-open")
    assert re.search(r"due:\s+0\b", again.stdout), again.stdout
    assert len(sandbox.requests_for(A)) == len(sandbox.requests_for(B)) == 1
    assert project.query("select count(*) from konnectnxt.open_cases_aging") == [(0,)]
    overview = project.query(
        "select case_id, turnaround_days is not null or first_completed_at is not null from konnectnxt.case_overview"
    )
    assert sorted(overview) == [(A, True), (B, True)]
    assert project.query("select status from konnectnxt.cases order by case_id") == [(" COMPLETED ",), ("Rejected",)]


def test_poll_times_written_by_a_clock_that_ran_ahead_are_taken_as_now(project, sandbox):
    serve_cases(sandbox, [A, B])
    assert project.run("--case-id", A, "--case-id", B).returncode == 0
    with duckdb.connect(str(project.duckdb_file)) as connection:  # a run made with the clock a year ahead
        connection.execute(
            "update konnectnxt.tracked_cases set last_polled_at = last_polled_at + interval 365 day, "
            "last_report_at = last_report_at + interval 365 day, next_poll_at = next_poll_at + interval 365 day"
        )
    first = project.run("--all-open")
    assert first.returncode == 0, first.stderr
    assert len([line for line in first.stderr.splitlines() if "poll times in the future" in line]) == 1
    assert "2 case(s) had poll times in the future" in first.stderr
    time.sleep(1)
    second = project.run("--all-open")
    assert second.returncode == 0 and "in the future" not in second.stderr
    assert len(sandbox.requests_for(A)) >= 2  # not frozen for a year


def test_ctrl_c_and_sigterm_exit_130_and_143_record_the_run_and_keep_the_vendors_15_s(project, sandbox):
    case_ids = ids(40)
    serve_cases(sandbox, case_ids)
    assert project.run("--cases-file", ids_file(project, case_ids)).returncode == 0
    # The vendor's 15 s, as 60 here: on a busy machine the next run can start more than 15 s after the first request.
    polite = {"SOURCES__KONNECTNXT__MIN_POLL_INTERVAL": "60", "SOURCES__KONNECTNXT__WORKERS": "2"}
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        with duckdb.connect(str(project.duckdb_file)) as connection:  # the last fetches were long ago
            connection.execute("update konnectnxt.tracked_cases set last_report_at = last_report_at - interval 1 hour")
            connection.execute("update konnectnxt.cases set last_fetched_at = last_fetched_at - interval 1 hour")
        sandbox.latency = 0.25  # 40 cases take 5 s at 2 workers: the signal lands while fetching
        started = len(sandbox.requests)
        process = project.start("--all-open", env=polite)
        wait_for_requests(sandbox, started + 6)
        process.send_signal(sig)
        _, stderr = communicate_or_dump_stacks(process, timeout=60)
        sandbox.latency = 0
        assert process.returncode == code, stderr
        assert stderr.strip().splitlines()[-1].endswith("bgv: interrupted"), stderr
        assert "internal error" not in stderr and "Traceback" not in stderr
        run = project.query("select exit_code, error from konnectnxt.runs order by started_at desc limit 1")
        assert run == [(code, "interrupted")]
        asked = {r.case_id for r in sandbox.requests[started:] if r.status == 200}
        assert asked
        again_from = len(sandbox.requests)
        assert project.run("--all-open", env=polite).returncode == 0
        assert (
            not {r.case_id for r in sandbox.requests[again_from:]} & asked
        )  # within min_poll_interval: not asked again


def test_sigusr1_prints_every_threads_stack_and_the_run_goes_on(project, sandbox):
    case_ids = ids(12)
    serve_cases(sandbox, case_ids)
    sandbox.latency = 0.25
    process = project.start("--cases-file", ids_file(project, case_ids), env={"SOURCES__KONNECTNXT__WORKERS": "2"})
    wait_for_requests(sandbox, 4)
    process.send_signal(signal.SIGUSR1)
    _, stderr = communicate_or_dump_stacks(process, timeout=60)
    assert process.returncode == 0, stderr
    stacks = stderr[stderr.index("Thread 0x") :]
    assert stacks.count("Thread 0x") + stacks.count("Current thread 0x") >= 3, stderr  # main and 2 fetch workers
    assert "fetch_report" in stacks and "bgv.py" in stacks, stderr
    assert TEST_API_KEY not in stderr
    assert count(project, "select count(*) from konnectnxt.cases") == len(case_ids)


@pytest.mark.parametrize("moment", ["erasing", "rewriting"])
def test_a_forget_killed_anywhere_is_completed_by_the_next_run_and_the_case_stays_forgotten(project, sandbox, moment):
    sandbox.add_case(
        A, {"status": "in_progress", "result": "pending", "candidate": {"name": "Unique Zoë"}, "checks": []}
    )
    serve_cases(sandbox, [B])
    cases_file = ids_file(project, [A, B])
    assert project.run("--cases-file", cases_file).returncode == 0
    os.chmod(project.duckdb_file, 0o600)
    process = project.start("--forget", A, "--verbose")
    wait_for_line(process, rf"DEBUG bgv: {moment}")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    after = project.run("--cases-file", cases_file)
    assert after.returncode == 0, after.stderr
    assert "completing an interrupted --forget of 1 case(s)" in after.stderr
    assert count(project, f"select count(*) from konnectnxt.tracked_cases where case_id = '{A}'") == 0
    assert count(project, f"select count(*) from konnectnxt.forgotten_cases where case_id = '{A}'") == 1
    assert len(sandbox.requests_for(A)) == 1  # never fetched again
    assert not list(project.root.glob("*.forget-*"))
    assert stat.S_IMODE(project.duckdb_file.stat().st_mode) == 0o600
    assert b"Unique Zo" not in project.duckdb_file.read_bytes()


def test_a_corrupt_database_file_is_named_corrupt_at_once(project, sandbox):
    serve_cases(sandbox, [A])
    assert project.run("--case-id", A).returncode == 0
    data = bytearray(project.duckdb_file.read_bytes())
    for offset in range(8192, len(data), 4096):
        data[offset : offset + 64] = bytes(64)
    project.duckdb_file.write_bytes(bytes(data))
    started = time.monotonic()
    result = project.run("--all-open", env={"SOURCES__KONNECTNXT__LOCK_WAIT_SECONDS": "30"})
    assert time.monotonic() - started < 20
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "corrupt" in lines[-1] and "busy" not in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_api_exits_2_naming_host_and_reason_and_leaves_queryable_tables_without_views(project):
    closed = {"SOURCES__KONNECTNXT__BASE_URL": "http://127.0.0.1:9/api", "SOURCES__KONNECTNXT__MAX_ATTEMPTS": "1"}
    result = project.run("--case-id", A, env=closed)
    assert result.returncode == 2, result.stderr
    assert re.search(r"bgv: cannot reach 127\.0\.0\.1:9: connection refused", result.stderr), result.stderr
    assert project.query("select count(*) from konnectnxt.cases") == [(0,)]  # the summary's query works
    views = project.query("select count(*) from information_schema.tables where table_type = 'VIEW'")
    assert views == [(0,)]
    assert project.query("select count(*) from konnectnxt.tracked_cases") == [(1,)]
