"""The polling core called directly: what one fetch outcome means, without dlt, HTTP or a database."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from konnectnxt.check_identity import checks_from_rows
from konnectnxt.client import FetchOutcome
from konnectnxt.polling import PollingRules, RunStats, poll_outcome
from konnectnxt.schedule import TrackedCase
from konnectnxt.tables import TABLES

CASE = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
ADDED = datetime(2026, 6, 1, tzinfo=UTC)
RULES = PollingRules([30, 60], 15, timedelta(hours=72), ZoneInfo("Asia/Kolkata"))


def data(status="in_progress", result="pending", criminal=("in_progress", "pending")):
    return {
        "status": status,
        "result": result,
        "candidate": {"name": "Asha"},
        "checks": [
            {"type": "criminal", "status": criminal[0], "result": criminal[1]},
            {"type": "address", "status": "in_progress", "result": "pending", "entries": [{"city": "Pune"}]},
        ],
    }


def fetched(case, at, report, stored=None):
    return poll_outcome(case, FetchOutcome(CASE, at, data=report, http_status=200), RULES, "run-1", stored)


def stored_checks(polled):
    """The case's checks as the next run reads them back from the warehouse."""
    return checks_from_rows(polled.rows)


def test_our_own_case_times_are_computed_once_and_the_case_row_carries_them():
    first_at, later_at, done_at = ADDED + timedelta(hours=1), ADDED + timedelta(days=2), ADDED + timedelta(days=3)
    first = fetched(TrackedCase(CASE, "--case-id", ADDED), first_at, data())
    assert first.tracked.first_seen_at == first_at == first.rows["cases"][0]["first_seen_at"]

    later = fetched(first.tracked, later_at, data())
    case_row = later.rows["cases"][0]
    assert (case_row["first_seen_at"], case_row["last_fetched_at"]) == (first_at, later_at)
    assert case_row["first_completed_at"] is None

    done = fetched(later.tracked, done_at, data("completed", "clear", ("completed", "clear")))
    again = fetched(done.tracked, done_at + timedelta(days=1), data("completed", "clear", ("completed", "clear")))
    for polled in (done, again):
        row = polled.rows["cases"][0]
        assert (row["first_completed_at"], row["first_seen_at"]) == (done_at, first_at)
        assert (polled.tracked.first_completed_at, polled.tracked.last_completed_at) == (
            row["first_completed_at"],
            row["last_completed_at"],
        )
    # Fetched terminal again: not a new completion. The last completion is when it last became terminal.
    assert again.rows["cases"][0]["last_completed_at"] == done_at
    assert again.tracked.terminal_seen_at == done_at


def test_a_report_gives_rows_for_every_table_it_touches_and_its_new_bookkeeping():
    polled = fetched(TrackedCase(CASE, "--case-id", ADDED), ADDED, data())
    assert set(polled.rows) <= {table.name for table in TABLES.per_case}
    assert [row["check_key"] for row in polled.rows["checks"]] == ["criminal", "address"]
    assert polled.rows["entries"][0]["city"] == "Pune"
    assert polled.rows["tracked_cases"] == [polled.tracked.row()]
    assert polled.tracked.next_poll_at == ADDED + timedelta(seconds=30)
    assert "fetch_errors" not in polled.rows


def test_history_rows_come_only_for_what_differs_from_the_stored_snapshot():
    first = fetched(TrackedCase(CASE, "--case-id", ADDED), ADDED, data())
    assert len(first.rows["case_status_history"]) == 1 and len(first.rows["check_status_history"]) == 2

    same = fetched(first.tracked, ADDED + timedelta(minutes=5), data(), stored_checks(first))
    assert same.rows["case_status_history"] == [] and same.rows["check_status_history"] == []

    moved = fetched(
        same.tracked, ADDED + timedelta(hours=1), data(criminal=("completed", "clear")), stored_checks(same)
    )
    assert [(r["check_key"], r["status"]) for r in moved.rows["check_status_history"]] == [("criminal", "completed")]
    assert moved.rows["case_status_history"] == []


def test_a_failure_leaves_report_data_alone_and_records_the_error():
    case = TrackedCase(CASE, "--case-id", ADDED)
    outcome = FetchOutcome(CASE, ADDED, http_status=503, error="HTTP 503: busy", attempts=4)
    polled = poll_outcome(case, outcome, RULES, "run-1")
    assert set(polled.rows) == {"tracked_cases", "fetch_errors"}
    assert polled.rows["fetch_errors"][0] | {"failed_at": None} == {
        "case_id": CASE,
        "http_status": 503,
        "error_message": "HTTP 503: busy",
        "attempts": 4,
        "failed_at": None,
        "run_id": "run-1",
    }
    assert polled.tracked.consecutive_failures == 1 and not polled.fetched


def test_stats_count_fetches_failures_changes_and_transitions():
    stats = RunStats("run-1")
    first = fetched(TrackedCase(CASE, "--case-id", ADDED), ADDED, data())
    done = fetched(first.tracked, ADDED + timedelta(days=1), data("completed", "clear"))
    failed = poll_outcome(first.tracked, FetchOutcome(CASE, ADDED, http_status=500, error="HTTP 500"), RULES, "r")
    for polled in (first, done, failed):
        stats.count(polled)
    assert (stats.fetched, stats.failed, stats.changed, stats.newly_completed) == (2, 1, 2, 1)
    assert stats.status_changes == {(None, "in_progress"): 1, ("in_progress", "completed"): 1}
    assert stats.rows["checks"] == 4 and stats.rows["fetch_errors"] == 1 and stats.rows["tracked_cases"] == 3


def test_a_report_whose_shape_changed_is_kept_out_and_the_case_backs_off_like_a_failure():
    first = fetched(TrackedCase(CASE, "--case-id", ADDED), ADDED, data())
    at = ADDED + timedelta(hours=1)
    renamed = {"status": "in_progress", "check_list": data()["checks"]}
    kept = fetched(first.tracked, at, renamed, stored_checks(first))
    assert set(kept.rows) == {"tracked_cases", "fetch_errors", "raw_reports"}
    assert kept.kept_out and not kept.fetched and kept.error == 'report shape changed: no "checks" list'
    assert kept.rows["fetch_errors"][0]["http_status"] == 200
    assert kept.rows["raw_reports"][0]["report"] == renamed
    tracked = kept.tracked
    assert (tracked.last_status, tracked.report_hash, tracked.poll_step) == (
        first.tracked.last_status,
        first.tracked.report_hash,
        first.tracked.poll_step,
    )
    assert tracked.consecutive_failures == 1 and tracked.first_not_found_at is None
    assert tracked.last_report_at == at  # the vendor answered with a report: min_poll_interval counts from it

    stats = RunStats("run-1")
    stats.count(kept)
    assert (stats.failed, stats.kept_out, stats.fetched, stats.reported_at) == (1, 1, 0, {CASE: at})


def test_a_reorder_alone_is_no_change_and_a_check_keeps_its_key():
    two = data()
    two["checks"].append({"type": "address", "status": "completed", "result": "clear", "entries": [{"city": "Goa"}]})
    first = fetched(TrackedCase(CASE, "--case-id", ADDED), ADDED, two)
    reordered = {**two, "checks": list(reversed(two["checks"]))}
    again = fetched(first.tracked, ADDED + timedelta(hours=1), reordered, stored_checks(first))
    assert again.tracked.report_hash == first.tracked.report_hash and again.tracked.poll_step == 1
    assert again.rows["check_status_history"] == []
    keys = {row["check_key"]: row["city"] for row in again.rows["entries"]}
    assert keys == {"address": "Pune", "address#2": "Goa"}
