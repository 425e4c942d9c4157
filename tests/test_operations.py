"""A year on cron, as an operator meets it: a wrong URL or an unreadable setting, quiet cron mail, monitoring.

Every test drives the real CLI against the sandbox into real DuckDB files; the README's
"What happens when..." lists them (O).
"""

import os
import re
import time
from functools import partial

import duckdb
import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from conftest import Project, ids, ids_file, serve_cases
from konnectnxt import config_providers
from konnectnxt.config_providers import refuse_unreadable_settings
from konnectnxt.errors import ConfigurationError
from konnectnxt.log_digest import failure_lines
from konnectnxt.settings import NOT_FOUND_MIN_ATTEMPTS

TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"


# The vendor's answer for a check not yet judged: no result at all.
serve = partial(serve_cases, check_result=None)


def polling_state(project: Project) -> list[tuple]:
    return project.query(
        "select case_id, last_polled_at, next_poll_at, consecutive_failures, first_not_found_at, "
        "not_found_attempts, not_found_at from konnectnxt.tracked_cases order by case_id"
    )


def count(project: Project, sql: str) -> int:
    return project.query(sql)[0][0]


# ---------------------------------------------------------------- a wrong setting never quietly stops polling


def test_a_run_in_which_every_request_answers_404_exits_2_and_counts_toward_nothing(project, sandbox):
    reported, fresh = ids(6), ids(6, offset=100)
    serve(sandbox, reported)
    assert project.run("--cases-file", ids_file(project, reported)).returncode == 0
    wrong = sandbox.base_url + "/v2-typo"
    typo = {"SOURCES__KONNECTNXT__BASE_URL": wrong, "SOURCES__KONNECTNXT__NOT_FOUND_AFTER_HOURS": "0"}
    # Not at the vendor yet: among answers that are reports, their 404s count.
    assert project.run("--all-open", "--cases-file", ids_file(project, fresh)).returncode == 1
    before, errors_before = polling_state(project), count(project, "select count(*) from konnectnxt.fetch_errors")
    for _ in range(NOT_FOUND_MIN_ATTEMPTS + 1):
        result = project.run("--all-open", env=typo)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert re.fullmatch(
            rf"{TIME} bgv: every request answered 404: check base_url \({re.escape(wrong)}\)", lines[-1]
        )
        assert "Traceback" not in result.stderr
    assert polling_state(project) == before
    assert count(project, "select count(*) from konnectnxt.fetch_errors") == errors_before
    assert count(project, "select count(*) from konnectnxt.tracked_cases where not_found_at is not null") == 0
    assert project.query("select exit_code, error from konnectnxt.runs order by started_at desc limit 1") == [
        (2, f"every request answered 404: check base_url ({wrong})")
    ]
    # The URL fixed, everything is polled as before.
    serve(sandbox, fresh)
    fixed = project.run("--all-open")
    assert fixed.returncode == 0, fixed.stderr
    assert re.search(r"fetched:\s+12\b", fixed.stdout)


def test_a_case_that_ever_returned_a_report_is_never_marked_not_found(project, sandbox):
    gone, others = ids(1)[0], ids(3, offset=10)
    serve(sandbox, [gone, *others])
    assert project.run("--cases-file", ids_file(project, [gone, *others])).returncode == 0
    del sandbox.cases[gone]
    hours = {"SOURCES__KONNECTNXT__NOT_FOUND_AFTER_HOURS": "0"}
    for _ in range(NOT_FOUND_MIN_ATTEMPTS + 2):
        result = project.run("--all-open", env=hours)
        assert result.returncode == 1 and "marked not found" not in result.stdout
    state = project.query(
        f"select not_found_at, consecutive_failures, next_poll_at is not null from konnectnxt.tracked_cases "
        f"where case_id = '{gone}'"
    )
    assert state == [(None, NOT_FOUND_MIN_ATTEMPTS + 2, True)]
    assert project.query(f"select status from konnectnxt.cases where case_id = '{gone}'") == [("in_progress",)]


def test_retry_not_found_puts_every_not_found_case_back_to_polling_in_one_command(project, sandbox):
    ghosts, real = ids(3), ids(1, offset=50)
    serve(sandbox, real)
    hours = {"SOURCES__KONNECTNXT__NOT_FOUND_AFTER_HOURS": "0"}
    assert project.run("--cases-file", ids_file(project, ghosts + real), env=hours).returncode == 1
    for _ in range(NOT_FOUND_MIN_ATTEMPTS - 1):
        last = project.run("--all-open", env=hours)
    assert "marked not found: 3" in last.stdout, last.stdout
    assert count(project, "select count(*) from konnectnxt.tracked_cases where not_found_at is not null") == 3
    serve(sandbox, ghosts)
    back = project.run("--retry-not-found")
    assert back.returncode == 0, back.stderr
    assert "3 tracked again" in back.stdout and re.search(r"fetched:\s+3\b", back.stdout)
    assert count(project, "select count(*) from konnectnxt.tracked_cases where not_found_at is not null") == 0
    assert count(project, "select count(*) from konnectnxt.cases") == 4


@pytest.mark.parametrize("broken", ["folder is a file", "config.toml is a folder", "secrets.toml is a fifo"])
def test_a_settings_folder_or_file_that_cannot_be_read_exits_2_naming_it(project, sandbox, broken):
    settings = project.root / ".dlt"
    if broken == "folder is a file":
        settings.write_text("not a folder\n")
        named = settings
    else:
        settings.mkdir()
        (settings / "config.toml").write_text('[sources.konnectnxt]\npii = "drop"\n')
        named = settings / broken.split()[0]
        named.unlink(missing_ok=True)
        os.mkfifo(named) if broken.endswith("fifo") else named.mkdir()
    result = project.run("--case-id", ids(1)[0], timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert re.fullmatch(
        rf"{TIME} bgv: the settings in {re.escape(str(named))} cannot be read: .*", result.stderr.strip()
    )
    assert not project.duckdb_file.exists() and not (project.root / "bgv.duckdb").exists()


def test_a_settings_folder_the_account_may_not_list_is_refused(tmp_path, monkeypatch):
    (tmp_path / ".dlt").mkdir()

    def refused(path):
        raise PermissionError(13, "Permission denied", path)

    context = Container()[PluggableRunContext]
    original = context.context.run_dir
    context.reload(str(tmp_path))  # dlt reads this test's settings folder
    try:
        monkeypatch.setattr(config_providers.os, "listdir", refused)
        with pytest.raises(
            ConfigurationError, match=rf"{re.escape(str(tmp_path))}/\.dlt cannot be read: Permission denied"
        ):
            refuse_unreadable_settings()
    finally:
        monkeypatch.undo()
        context.reload(original)


# ---------------------------------------------------------------- cron mail stays small


def test_many_404_ids_are_one_warning_line_with_a_count_and_examples(project, sandbox):
    ghosts, real = ids(120), ids(1, offset=500)
    serve(sandbox, real)
    result = project.run("--cases-file", ids_file(project, ghosts + real), env={"SOURCES__KONNECTNXT__WORKERS": "8"})
    assert result.returncode == 1, result.stderr
    naming_ghosts = [line for line in result.stderr.splitlines() if any(ghost in line for ghost in ghosts)]
    assert len(naming_ghosts) == 1, result.stderr
    assert re.search(
        r"WARNING bgv: 120 case\(s\) answered HTTP 404: Case not found\. \(e\.g\. [0-9a-f]{32}, ", naming_ghosts[0]
    )
    assert naming_ghosts[0].endswith("details in fetch_errors")
    assert len(result.stderr.splitlines()) < 25  # progress and steps: as many for 20,000 ids
    assert count(project, "select count(*) from konnectnxt.fetch_errors where http_status = 404") == 120
    assert re.match(rf"{TIME} bgv run [0-9a-f]{{8}} \(pipeline bgv\)", result.stdout.splitlines()[0])


# ---------------------------------------------------------------- a monitor can tell when something is wrong


def test_status_exits_2_without_a_warehouse_and_creates_nothing(project, sandbox):
    for args in (["--status"], ["--demo", "--status"]):
        result = project.run(*args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert re.fullmatch(rf"{TIME} bgv: no warehouse at .*", result.stderr.strip())
    assert "bgv_demo.duckdb" in result.stderr
    assert not project.duckdb_file.exists() and not sandbox.requests


def test_status_reads_the_warehouse_only_and_exits_by_the_health_of_the_last_run(project, sandbox):
    case_ids = ids(3)
    serve(sandbox, case_ids[:2], status="in_progress")
    serve(sandbox, case_ids[2:], status="completed")
    assert project.run("--cases-file", ids_file(project, case_ids)).returncode == 0
    requests = len(sandbox.requests)

    healthy = project.run("--status", env={"SOURCES__KONNECTNXT__API_KEY": None})
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert re.match(rf"{TIME} bgv status \(pipeline bgv, database .*bgv\.duckdb, dataset konnectnxt\)", healthy.stdout)
    assert "health:        OK" in healthy.stdout
    assert "3 tracked, 2 open, 0 not found, 0 untracked" in healthy.stdout
    assert f"oldest open:   {case_ids[0]}" in healthy.stdout
    assert "last success:  finished" in healthy.stdout
    assert len(sandbox.requests) == requests

    with duckdb.connect(str(project.duckdb_file)) as connection:
        connection.execute("update konnectnxt.runs set finished_at = finished_at - interval 3 hour")
    stale = project.run("--status")
    assert stale.returncode == 1 and "longer than health_max_age_minutes = 120" in stale.stdout
    assert project.run("--status", env={"SOURCES__KONNECTNXT__HEALTH_MAX_AGE_MINUTES": "600"}).returncode == 0

    assert project.run("--all-open", env={"SOURCES__KONNECTNXT__API_KEY": "revoked"}).returncode == 2
    failed = project.run("--status")
    assert failed.returncode == 1 and "ALERT: the last run failed" in failed.stdout
    assert "authentication failed" in failed.stdout
    assert len(sandbox.requests) == requests + 1  # the failed run's probe, none from --status


def test_status_runs_alone_and_takes_no_malformed_age(project, sandbox):
    assert project.run("--status", "--all-open").returncode == 2
    bad = project.run("--status", env={"SOURCES__KONNECTNXT__HEALTH_MAX_AGE_MINUTES": "0"})
    assert bad.returncode == 2 and "health_max_age_minutes" in bad.stderr


def test_untrack_stops_polling_keeps_the_data_and_case_id_tracks_it_again(project, sandbox):
    kept, other = ids(2)
    serve(sandbox, [kept, other])
    assert project.run("--case-id", kept, "--case-id", other).returncode == 0
    untrack = project.run("--untrack", kept.upper())
    assert untrack.returncode == 0, untrack.stderr
    assert f"{kept}: no longer polled" in untrack.stdout
    assert project.run("--untrack", kept).stdout.count("was untracked already") == 1
    requests = len(sandbox.requests_for(kept))

    polled = project.run("--all-open")
    assert polled.returncode == 0 and "(1 open, 1 untracked)" in polled.stdout, polled.stdout
    assert len(sandbox.requests_for(kept)) == requests
    assert project.query(f"select status from konnectnxt.cases where case_id = '{kept}'") == [("in_progress",)]
    assert count(project, "select count(*) from konnectnxt.tracked_cases where untracked_at is not null") == 1
    assert "0 not found, 1 untracked" in project.run("--status").stdout
    # A file naming it does not bring it back; --case-id does.
    assert project.run("--cases-file", ids_file(project, [kept])).returncode == 0
    assert len(sandbox.requests_for(kept)) == requests

    time.sleep(0.1)
    back = project.run("--case-id", kept)
    assert back.returncode == 0 and "1 tracked again" in back.stdout, back.stdout
    assert len(sandbox.requests_for(kept)) == requests + 1
    assert count(project, "select count(*) from konnectnxt.tracked_cases where untracked_at is not null") == 0


def test_status_reads_any_warehouse_read_only(any_project, sandbox):
    case_ids = ids(2)
    serve(sandbox, case_ids)
    assert any_project.run("--cases-file", ids_file(any_project, case_ids)).returncode == 0
    status = any_project.run("--status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "2 tracked, 2 open, 0 not found, 0 untracked" in status.stdout
    runs = any_project.query("select count(*) from konnectnxt.runs")[0][0]
    assert runs == 1  # --status wrote nothing


def test_demo_status_reads_the_demo(project, sandbox):
    assert project.run("--demo").returncode == 0
    status = project.run("--demo", "--status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "pipeline bgv_demo" in status.stdout and "50 tracked" in status.stdout
    assert project.run("--status").returncode == 2  # the real pipeline has no warehouse


def test_failures_fold_into_one_line_per_kind_most_frequent_first():
    ghosts = ids(20000)
    failures = [(case_id, "HTTP 404: Case not found.") for case_id in ghosts]
    failures += [(ids(1, offset=90000)[0], "HTTP 503: busy"), (ids(1, offset=90001)[0], "HTTP 503: busy")]
    failures.append((ids(1, offset=90002)[0], f"HTTP 500: {ids(1, offset=90002)[0]} broke"))
    busy, broken = ids(1, offset=90000)[0], ids(1, offset=90002)[0]
    details = "; details in fetch_errors"
    assert failure_lines(failures) == [
        f"20000 case(s) answered HTTP 404: Case not found. (e.g. {ghosts[0]}, {ghosts[1]}, {ghosts[2]}, ...)" + details,
        f"2 case(s) answered HTTP 503: busy (e.g. {busy}, {ids(1, offset=90001)[0]})" + details,
        f"case {broken}: HTTP 500: <case_id> broke",
    ]


def test_many_kinds_of_failure_end_in_one_line_counting_the_rest():
    failures = [(case_id, f"odd failure {index}") for index, case_id in enumerate(ids(50))]
    lines = failure_lines(failures)
    assert len(lines) == 11 and lines[-1].startswith("40 more case(s) failed in 40 other ways")
