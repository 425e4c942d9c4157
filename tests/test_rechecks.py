"""Completed cases are looked at again, deliberately: `recheck_terminal_after`, through the real CLI.

The re-check times are real seconds (the pipeline's clock), kept short here.
"""

import time

from conftest import Project

A = "a" * 32


def report(status: str, result: str = "pending", criminal: tuple = ("in_progress", "pending")) -> dict:
    return {
        "status": status,
        "result": result,
        "candidate": {"name": "Asha"},
        "checks": [{"type": "criminal", "status": criminal[0], "result": criminal[1]}],
    }


DONE = report("completed", "clear", ("completed", "clear"))


def rechecks(seconds: list[float]) -> dict[str, str]:
    return {"SOURCES__KONNECTNXT__RECHECK_TERMINAL_AFTER": str(seconds)}


def run_ok(project: Project, *args: str, env: dict[str, str] | None = None) -> str:
    result = project.run(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until(moment: float) -> None:
    time.sleep(max(moment - time.monotonic(), 0))


def test_each_recheck_time_costs_one_request_per_completed_case_and_no_more(project, sandbox):
    case_ids = [f"{n:032x}" for n in range(1, 21)]
    for case_id in case_ids:
        sandbox.add_case(case_id, DONE)
    env = rechecks([3, 9])
    project.write("ids.txt", "\n".join(case_ids))
    run_ok(project, "--cases-file", "ids.txt", env=env)
    fetched_by = time.monotonic()  # every case was first seen terminal before this

    assert "re-checked" not in run_ok(project, env=env)  # within the first re-check time: nothing due
    wait_until(fetched_by + 3.2)
    first = run_ok(project, env=env)
    assert "re-checked 20 completed case(s)" in first and "re-opened" not in first
    wait_until(fetched_by + 9.2)
    assert "re-checked 20 completed case(s)" in run_ok(project, env=env)
    for _ in range(4):  # every re-check time has been answered: never requested again
        assert "re-checked" not in run_ok(project, env=env)

    assert {len(sandbox.requests_for(case_id)) for case_id in case_ids} == {1 + 2}  # the fetch + one per time
    assert project.query("select count(*) from konnectnxt.case_status_history") == [(20,)]
    # --refresh-completed re-checks every completed case at once, and is counted so.
    assert "re-checked 20 completed case(s)" in run_ok(project, "--refresh-completed", env=env)


def test_a_case_that_reopens_is_seen_by_its_recheck_polled_as_open_and_measured_to_its_last_completion(
    project, sandbox
):
    env = {**rechecks([1, 3600]), "SOURCES__KONNECTNXT__POLL_INTERVALS": "[3600]"}
    sandbox.add_case(A, report("in_progress"))
    run_ok(project, "--case-id", A, env=env)
    sandbox.add_case(A, DONE)
    assert "newly completed: 1" in run_ok(project, "--all-open", env=env)
    first_seen, first_completed = project.query("select first_seen_at, first_completed_at from konnectnxt.cases")[0]

    sandbox.add_case(A, report("in_audit", "pending", ("completed", "clear")))  # a dispute re-opens it
    time.sleep(1.1)  # the first re-check time
    reopened = run_ok(project, env=env)
    assert "re-checked 1 completed case(s) (among the fetched), 1 re-opened: polled as open again" in reopened
    assert "completed -> in_audit: 1" in reopened
    assert project.query("select status, first_completed_at, last_completed_at from konnectnxt.cases") == [
        ("in_audit", first_completed, None)
    ]
    assert project.query("select turnaround_days from konnectnxt.case_overview") == [(None,)]
    terminal_seen, next_poll = project.query("select terminal_seen_at, next_poll_at from konnectnxt.tracked_cases")[0]
    assert terminal_seen is None and next_poll is not None  # open again, on the normal backoff

    assert "fetched:         1" in run_ok(project, "--all-open", env=env)  # polled as an open case
    sandbox.add_case(A, DONE)
    run_ok(project, "--all-open", env=env)
    history = project.query("select status, result from konnectnxt.case_status_history order by observed_at")
    assert history == [
        ("in_progress", "pending"),
        ("completed", "clear"),
        ("in_audit", "pending"),
        ("completed", "clear"),
    ]
    first, last, last_observed = project.query(
        "select c.first_completed_at, c.last_completed_at, max(h.observed_at) from konnectnxt.cases c "
        "join konnectnxt.case_status_history h using (case_id) group by 1, 2"
    )[0]
    assert first == first_completed and last == last_observed > first  # the new completion; the first kept
    turnaround = project.query("select turnaround_days from konnectnxt.case_overview")[0][0]
    assert abs(turnaround - (last - first_seen).total_seconds() / 86400) < 1e-9
    assert project.query("select terminal_seen_at from konnectnxt.tracked_cases") == [(last,)]
