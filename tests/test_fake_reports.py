"""The sandbox's report generator: realistic content, a plausible Indian BGV mix, an hour of steady progress."""

from collections import Counter
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from konnectnxt.demo.fake_reports import demo_case_ids, demo_timelines, timeline_for
from konnectnxt.transform import CaseTimes, report_rows

START = 1_780_000_000.0
MINUTE = 60
DAY = 86400
IST = ZoneInfo("Asia/Kolkata")
RESULTS = {"clear", "minor_discrepancy", "discrepancy", "unable_to_verify", "not_available", "pending"}
SEVERITY = ["discrepancy", "minor_discrepancy", "unable_to_verify", "not_available", "clear"]
WHERE_DISCREPANCIES_ARE = {"employment", "address", "education"}
ALL_FINISHED = 69 * MINUTE
# Days from a case opening to a check completing, by check type.
TURNAROUND_DAYS = {
    "identity_aadhaar": (1, 2),
    "identity_pan": (1, 2),
    "drug_test": (2, 4),
    "social_media": (3, 5),
    "criminal": (5, 9),
    "court_record": (5, 9),
    "reference": (5, 10),
    "address": (8, 12),
    "employment": (7, 21),
    "education": (7, 21),
}


def reports_at(seconds_after_start, started_at=START):
    return [t.report(started_at + seconds_after_start) for t in demo_timelines(started_at).values()]


def stage_of(report):
    """What a demo run sees as progress: the case's status and result, and each check's."""
    checks = tuple((check["status"], check["result"]) for check in report["checks"])
    return report["status"], report["result"], checks


@cache
def stages_at(seconds_after_start, started_at=START):
    """Every demo case's stage, in id order; equal to `stage_of` its report (tested below), only cheaper."""
    stages = [timeline.stage_at(started_at + seconds_after_start) for timeline in timelines_from(started_at)]
    return tuple((stage.status, stage.result, stage.checks) for stage in stages)


def statuses_at(seconds_after_start):
    return [status for status, _, _ in stages_at(seconds_after_start)]


@cache
def timelines_from(started_at):
    return list(demo_timelines(started_at).values())


def finished_reports():
    return reports_at(ALL_FINISHED)


def details(entry):
    """An entry without what changes as it progresses."""
    return {key: value for key, value in entry.items() if key not in ("status", "result", "feedback", "flags")}


def test_demo_has_50_stable_ids():
    ids = demo_case_ids()
    assert len(ids) == len(set(ids)) == 50
    assert ids == demo_case_ids()
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_demo_starts_with_ten_finished_cases_one_rejected_six_of_them_clear():
    statuses = statuses_at(0)
    assert statuses.count("in_progress") == 40
    assert statuses.count("completed") == 9 and statuses.count("rejected") == 1
    finished_results = Counter(result for status, result, _ in stages_at(0) if status != "in_progress")
    assert finished_results == {"clear": 6, "minor_discrepancy": 2, "discrepancy": 1, "not_available": 1}


def test_finished_demo_cases_are_mostly_clear_with_a_minority_of_findings():
    results = Counter((report["status"], report["result"]) for report in finished_reports())
    assert results == {
        ("completed", "clear"): 34,
        ("completed", "minor_discrepancy"): 6,
        ("completed", "discrepancy"): 4,
        ("completed", "unable_to_verify"): 3,
        ("completed", "not_available"): 1,
        ("rejected", "not_available"): 2,
    }
    assert results["completed", "clear"] / 50 >= 0.6


def test_discrepancies_are_concentrated_in_employment_address_and_education():
    checks = [check for report in finished_reports() for check in report["checks"]]
    material = [check["type"] for check in checks if check["result"] == "discrepancy"]
    minor = [check["type"] for check in checks if check["result"] == "minor_discrepancy"]
    assert len(material) == 4 and set(material) <= WHERE_DISCREPANCIES_ARE
    assert len(minor) == 6 and sum(t in WHERE_DISCREPANCIES_ARE for t in minor) == 5
    assert sum(check["result"] == "clear" for check in checks) / len(checks) > 0.9


def test_some_checks_cannot_be_verified_and_some_lack_information():
    checks = [check for report in finished_reports() for check in report["checks"]]
    unable = [check for check in checks if check["result"] == "unable_to_verify"]
    insufficient = [check for check in checks if check["result"] == "not_available"]
    assert Counter(check["type"] for check in unable) == {"reference": 2, "education": 1, "employment": 1}
    assert all(check["remark"] for check in unable)
    assert Counter(check["type"] for check in insufficient) == {"employment": 1, "education": 1, "address": 1}
    assert all(check["remark"].startswith("Insufficient information provided") for check in insufficient)


def test_rejected_cases_are_the_ones_whose_candidate_never_sent_documents():
    rejected = [report for report in finished_reports() if report["status"] == "rejected"]
    assert len(rejected) == 2
    for report in rejected:
        assert report["result"] == "not_available"
        assert any(check["remark"].startswith("Insufficient") for check in report["checks"] if "remark" in check)


def test_a_finished_case_result_is_its_worst_check_result():
    for report in finished_reports():
        results = {check["result"] for check in report["checks"]}
        assert report["result"] == next(r for r in SEVERITY if r in results)
        assert (report["result"] == "clear") == (results == {"clear"})


def test_result_stays_pending_while_checks_run():
    for report in reports_at(30 * MINUTE):
        if report["status"] == "in_progress":
            assert report["result"] == "pending"
            assert report["summary"]["pending"] >= 1


def test_checks_take_days_to_weeks_by_type():
    for timeline in demo_timelines(START).values():
        for check in timeline.checks:
            low, high = TURNAROUND_DAYS[check.check_type]
            days = (check.done_at - timeline.opened_at) / DAY
            assert low <= days <= high, f"{check.check_type} took {days:.1f} days in case {timeline.case_id}"


def test_a_report_shows_its_case_stage():
    for elapsed in [0, 15, 45, 10 * MINUTE, 30 * MINUTE, ALL_FINISHED]:
        assert tuple(stage_of(report) for report in reports_at(elapsed)) == stages_at(elapsed)


def test_open_case_j_completes_its_last_checks_then_enters_audit_at_45_plus_90j_seconds_and_closes_570s_later():
    open_cases = timelines_from(START)[10:]
    for j, timeline in enumerate(open_cases):
        assert timeline.audit_at - START == 45 + 90 * j
        assert timeline.closed_at - START == 615 + 90 * j
        last_three = sorted(check.done_at - timeline.audit_at for check in timeline.checks)[-3:]
        assert last_three == [-960, -30, 0]


def test_something_changes_every_30s_from_15s_to_59min15s():
    assert stages_at(14) == stages_at(0) != stages_at(15)
    for first_run in range(0, 3525 + 1, 5):
        assert stages_at(first_run) != stages_at(first_run + 30), f"nothing changes from {first_run}s to +30s"


def test_any_two_demo_runs_a_minute_apart_in_the_first_hour_see_a_change():
    for first_run in range(0, 59 * MINUTE + 1, 5):
        assert stages_at(first_run) != stages_at(first_run + MINUTE), f"nothing changes from {first_run}s to +60s"


def test_a_case_changes_status_at_least_every_90s_in_the_first_hour():
    for first_run in range(0, 60 * MINUTE - 90 + 1, 5):
        assert statuses_at(first_run) != statuses_at(first_run + 90), f"no status changes from {first_run}s to +90s"


def test_cases_enter_audit_and_close_throughout_the_hour():
    for minute in range(0, 60, 5):
        before, after = stages_at(minute * MINUTE), stages_at((minute + 5) * MINUTE)
        moved = {(b[0], a[0]) for b, a in zip(before, after) if b[0] != a[0]}
        assert ("in_progress", "in_audit") in moved, f"no case enters audit in minutes {minute}-{minute + 5}"
        if minute >= 10:
            assert ("in_audit", "completed") in moved, f"no case completes in minutes {minute}-{minute + 5}"


def test_every_case_is_terminal_after_69_minutes_and_nothing_changes_afterwards():
    assert statuses_at(60 * MINUTE).count("in_audit") == 6 and statuses_at(60 * MINUTE).count("in_progress") == 0
    assert statuses_at(68 * MINUTE).count("in_audit") == 1
    finished = stages_at(ALL_FINISHED)
    assert all(status in ("completed", "rejected") for status, _, _ in finished)
    for later in [ALL_FINISHED + MINUTE, ALL_FINISHED + 30 * DAY]:
        assert stages_at(later) == finished
    ignoring_generated_at = [{**report, "generated_at": None} for report in reports_at(ALL_FINISHED)]
    assert [{**report, "generated_at": None} for report in reports_at(ALL_FINISHED + DAY)] == ignoring_generated_at


def test_demo_stage_is_a_pure_function_of_id_and_elapsed_time():
    case_id = demo_case_ids()[20]
    assert demo_timelines(START)[case_id].report(START + 100) == demo_timelines(START)[case_id].report(START + 100)
    for elapsed in [0, 100, 20 * MINUTE, 45 * MINUTE, ALL_FINISHED]:
        assert stages_at(elapsed, started_at=START + 1000) == stages_at(elapsed)


def test_a_check_keeps_its_details_while_other_checks_complete():
    early, late = reports_at(0), reports_at(ALL_FINISHED)
    for before, after in zip(early, late):
        assert before["reference_id"] == after["reference_id"]
        assert before["candidate"] == after["candidate"]
        for check_before, check_after in zip(before["checks"], after["checks"]):
            assert check_before.get("fields") == check_after.get("fields")
            entries_before, entries_after = check_before.get("entries", []), check_after.get("entries", [])
            assert [details(e) for e in entries_before] == [details(e) for e in entries_after]


def test_generated_cases_beyond_the_demo_are_mostly_clear_too():
    reports = [timeline_for(f"{n:032x}", START - 30 * DAY, 20 * DAY).report(START) for n in range(1, 501)]
    assert sum(report["result"] == "clear" for report in reports) / len(reports) > 0.5
    findings = [c["type"] for r in reports for c in r["checks"] if c["result"] in ("discrepancy", "minor_discrepancy")]
    assert sum(t in WHERE_DISCREPANCIES_ARE for t in findings) / len(findings) > 0.8


def test_reports_are_realistic_and_parse():
    reports = reports_at(ALL_FINISHED)
    checks = [check for report in reports for check in report["checks"]]
    assert {check["result"] for check in checks} >= RESULTS - {"pending"}
    assert {check["type"] for check in checks} >= {"employment", "address", "reference", "criminal", "identity_aadhaar"}
    entry_types = {check["type"] for check in checks if check.get("entries")}
    assert entry_types == {"employment", "address", "reference", "social_media"}
    assert any(check.get("fields") for check in checks) and any(check.get("documents") for check in checks)
    assert any(not report["candidate"]["name"].isascii() for report in reports)
    assert len({report["candidate"]["name"] for report in reports}) == 50
    fetched_at = datetime.fromtimestamp(START + 30 * MINUTE, UTC)
    for case_id, report in zip(demo_case_ids(), reports_at(30 * MINUTE)):
        assert report["summary"]["total"] == len(report["checks"])
        assert sum(report["summary"][r] for r in RESULTS) == len(report["checks"])
        assert len(report["reference_id"]) == 16 and report["reference_id"].isdigit()
        rows = report_rows(case_id, report, times=CaseTimes(fetched_at, fetched_at), report_timezone=IST)
        assert rows.unparsed_completed_at == 0
        assert len(rows["checks"]) == len(report["checks"]) and rows.case["status"] == report["status"]
        for check, row in zip(report["checks"], rows["checks"]):
            assert (row["completed_at"] is None) == (check["result"] == "pending")
            assert row["completed_at"] is None or row["completed_at"] <= fetched_at
