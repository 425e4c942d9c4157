"""The sandbox's report generator: realistic content and the demo's guaranteed progress."""

from zoneinfo import ZoneInfo

from konnectnxt.demo.fake_reports import demo_case_ids, demo_timelines
from konnectnxt.transform import parse_completed_at

START = 1_780_000_000.0
RESULTS = {"clear", "minor_discrepancy", "discrepancy", "unable_to_verify", "not_available", "pending"}


def statuses_at(timelines, seconds_after_start):
    return {case_id: t.status_at(START + seconds_after_start) for case_id, t in timelines.items()}


def test_demo_has_50_stable_ids():
    ids = demo_case_ids()
    assert len(ids) == len(set(ids)) == 50
    assert ids == demo_case_ids()
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_any_two_demo_runs_a_minute_apart_see_at_least_five_status_changes():
    timelines = demo_timelines(START)
    for first_run in range(0, 360, 3):
        before, after = statuses_at(timelines, first_run), statuses_at(timelines, first_run + 60)
        changed = sum(before[case_id] != after[case_id] for case_id in before)
        assert changed >= 5, f"only {changed} changes between {first_run}s and {first_run + 60}s"


def test_demo_starts_with_ten_finished_cases_one_rejected():
    statuses = list(statuses_at(demo_timelines(START), 0).values())
    assert statuses.count("in_progress") == 40
    assert statuses.count("completed") == 9 and statuses.count("rejected") == 1


def test_demo_stage_is_a_pure_function_of_id_and_elapsed_time():
    assert demo_timelines(START)[demo_case_ids()[20]].report(START + 100) == (
        demo_timelines(START)[demo_case_ids()[20]].report(START + 100)
    )
    shifted = demo_timelines(START + 1000)[demo_case_ids()[20]]
    original = demo_timelines(START)[demo_case_ids()[20]]
    assert shifted.status_at(START + 1100) == original.status_at(START + 100)


def test_reports_are_realistic_and_parse():
    reports = [t.report(START + 10_000) for t in demo_timelines(START).values()]
    checks = [check for report in reports for check in report["checks"]]
    assert {check["result"] for check in checks} >= RESULTS - {"pending"}
    assert {check["type"] for check in checks} >= {"employment", "address", "reference", "criminal", "identity_aadhaar"}
    assert any(check.get("fields") for check in checks) and any(check.get("documents") for check in checks)
    assert any(check.get("entries") for check in checks)
    assert any(not report["candidate"]["name"].isascii() for report in reports)
    for report in reports:
        assert report["summary"]["total"] == len(report["checks"])
        assert sum(report["summary"][r] for r in RESULTS) == len(report["checks"])
        assert len(report["reference_id"]) == 16 and report["reference_id"].isdigit()
    for check in checks:
        if check["completed_at"] is not None:
            assert parse_completed_at(check["completed_at"], ZoneInfo("Asia/Kolkata")) is not None
        else:
            assert check["result"] == "pending"
