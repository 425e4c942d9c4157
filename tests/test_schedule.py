"""The polling schedule: what is due, backoff on no change, reset on change, politeness."""

from datetime import UTC, datetime, timedelta

from konnectnxt.schedule import (
    TrackedCase,
    after_failure,
    after_report,
    due_cases,
    new_registrations,
    revived,
    tracked_again,
    untracked,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
INTERVALS = [30, 60, 300, 3600]


def case(case_id="a" * 32, **changes) -> TrackedCase:
    return TrackedCase(case_id=case_id, source="test", added_at=NOW - timedelta(days=1), **changes)


def ids(cases):
    return [c.case_id for c in cases]


def test_never_polled_open_cases_are_due():
    assert ids(due_cases([case()], NOW, min_poll_interval=15)) == ["a" * 32]


def test_open_case_is_due_only_once_next_poll_at_has_passed():
    waiting = case(next_poll_at=NOW + timedelta(seconds=1), last_status="in_progress")
    ready = case("b" * 32, next_poll_at=NOW, last_status="in_progress")
    assert ids(due_cases([waiting, ready], NOW, min_poll_interval=15)) == ["b" * 32]


def test_terminal_cases_are_never_due_unless_refreshing_completed():
    done = [case("c" * 32, last_status="completed"), case("d" * 32, last_status="rejected")]
    assert due_cases(done, NOW, min_poll_interval=15, all_open=True) == []
    assert ids(due_cases(done, NOW, min_poll_interval=15, refresh_completed=True)) == ["c" * 32, "d" * 32]


def test_unknown_statuses_count_as_open():
    assert ids(due_cases([case(last_status="on_hold")], NOW, min_poll_interval=15)) == ["a" * 32]


def test_all_open_ignores_backoff_but_never_min_poll_interval():
    later = case(next_poll_at=NOW + timedelta(hours=5), last_fetched_at=NOW - timedelta(seconds=20))
    fresh = case("b" * 32, next_poll_at=NOW + timedelta(hours=5), last_fetched_at=NOW - timedelta(seconds=10))
    assert ids(due_cases([later, fresh], NOW, min_poll_interval=15, all_open=True)) == ["a" * 32]
    refreshed = case("c" * 32, last_status="completed", last_fetched_at=NOW - timedelta(seconds=5))
    assert due_cases([refreshed], NOW, min_poll_interval=15, refresh_completed=True) == []


def test_longest_waiting_cases_come_first():
    cases = [
        case("b" * 32, next_poll_at=NOW - timedelta(minutes=1)),
        case("c" * 32),
        case("a" * 32, next_poll_at=NOW - timedelta(hours=1)),
    ]
    assert ids(due_cases(cases, NOW, min_poll_interval=0)) == ["c" * 32, "a" * 32, "b" * 32]


def poll(tracked, fingerprint, status="in_progress", at=NOW):
    return after_report(
        tracked, polled_at=at, status=status, fingerprint=fingerprint, poll_intervals=INTERVALS, min_poll_interval=15
    )


def test_unchanged_reports_back_off_step_by_step_and_the_last_interval_repeats():
    tracked = poll(case(), "h1")
    waits = [tracked.next_poll_at - NOW]
    for _ in range(5):
        tracked = poll(tracked, "h1")
        waits.append(tracked.next_poll_at - NOW)
    assert [w.total_seconds() for w in waits] == [30, 60, 300, 3600, 3600, 3600]


def test_a_change_resets_the_backoff():
    tracked = poll(poll(poll(case(), "h1"), "h1"), "h1")
    assert tracked.poll_step == 2
    changed = poll(tracked, "h2")
    assert changed.poll_step == 0 and (changed.next_poll_at - NOW).total_seconds() == 30


def test_intervals_shorter_than_min_poll_interval_are_raised_to_it():
    tracked = after_report(
        case(), polled_at=NOW, status="in_progress", fingerprint="h", poll_intervals=[1], min_poll_interval=15
    )
    assert (tracked.next_poll_at - NOW).total_seconds() == 15


def test_terminal_report_has_no_next_poll():
    tracked = poll(case(), "h", status="completed")
    assert tracked.next_poll_at is None and tracked.last_status == "completed"


def test_report_bookkeeping_records_poll_and_clears_errors():
    failing = case(consecutive_failures=3, last_error="HTTP 503")
    tracked = poll(failing, "h")
    assert (tracked.consecutive_failures, tracked.last_error, tracked.last_polled_at) == (0, None, NOW)
    assert tracked.first_seen_at == NOW and tracked.last_fetched_at == NOW


def fail(tracked, http_status=404, at=NOW, not_found_after=timedelta(hours=72)):
    return after_failure(
        tracked,
        polled_at=at,
        error=f"HTTP {http_status}",
        http_status=http_status,
        poll_intervals=INTERVALS,
        min_poll_interval=15,
        not_found_after=not_found_after,
    )


def test_failures_back_off_and_leave_report_state_alone():
    tracked = poll(case(), "h1")
    failed = fail(tracked, 503)
    failed_twice = fail(failed, 503)
    assert (failed.next_poll_at - NOW).total_seconds() == 30
    assert (failed_twice.next_poll_at - NOW).total_seconds() == 60
    assert failed_twice.consecutive_failures == 2 and failed_twice.last_error == "HTTP 503"
    assert (failed_twice.report_hash, failed_twice.last_status, failed_twice.poll_step) == ("h1", "in_progress", 0)


def fail_times(tracked, times, start=NOW, every=timedelta(hours=1)):
    for index in range(times):
        tracked = fail(tracked, at=start + index * every)
    return tracked


def test_404s_mark_a_case_not_found_only_after_the_configured_time_and_several_attempts():
    first = fail(case(), at=NOW)
    assert (first.first_not_found_at, first.not_found_attempts, first.not_found_at) == (NOW, 1, None)
    four = fail_times(case(), 4, every=timedelta(hours=30))
    assert four.not_found_attempts == 4 and four.not_found_at is None  # 90 h, but only 4 answers
    still_looking = fail_times(case(), 5, every=timedelta(hours=17))
    assert still_looking.not_found_at is None and still_looking.next_poll_at is not None  # 68 h
    given_up = fail(still_looking, at=NOW + timedelta(hours=72))
    assert given_up.not_found_at == NOW + timedelta(hours=72) and given_up.next_poll_at is None
    assert due_cases([given_up], NOW + timedelta(days=30), min_poll_interval=15, all_open=True) == []


def test_a_clock_jumping_ten_days_ahead_does_not_mark_a_minute_old_id_not_found():
    first = fail(case(), at=NOW)
    jumped = fail(first, at=NOW + timedelta(days=10, minutes=1))
    assert jumped.not_found_at is None and jumped.not_found_attempts == 2


def test_a_case_that_ever_returned_a_report_is_never_marked_not_found():
    reported = poll(case(), "h1")
    gone = fail_times(reported, 20, start=NOW + timedelta(hours=1), every=timedelta(days=1))
    assert gone.not_found_at is None and gone.consecutive_failures == 20
    assert gone.next_poll_at is not None and gone.report_hash == "h1"


def test_a_report_ends_the_404_streak():
    streak = fail(fail(case(), at=NOW), at=NOW + timedelta(hours=10))
    found = poll(streak, "h1", at=NOW + timedelta(hours=11))
    assert (found.first_not_found_at, found.not_found_at, found.consecutive_failures) == (None, None, 0)


def test_other_failures_never_mark_a_case_not_found():
    tracked = fail(case(), 503, at=NOW)
    tracked = fail(tracked, 503, at=NOW + timedelta(days=10))
    assert tracked.first_not_found_at is None and tracked.not_found_at is None


def test_revived_case_is_due_again():
    given_up = fail_times(case(), 5, every=timedelta(hours=20))
    assert given_up.not_found_at is not None
    back = revived(given_up)
    assert (back.not_found_at, back.first_not_found_at, back.consecutive_failures) == (None, None, 0)
    assert back.not_found_attempts == 0
    assert ids(due_cases([back], NOW + timedelta(hours=81), min_poll_interval=15)) == [back.case_id]


def test_registration_adds_only_unknown_ids():
    rows = new_registrations({"a" * 32: "--case-id", "b" * 32: "ids.txt"}, {"a" * 32}, NOW)
    assert [(r.case_id, r.source, r.added_at) for r in rows] == [("b" * 32, "ids.txt", NOW)]


def test_the_first_request_goes_to_the_case_that_most_recently_returned_a_report():
    never_fetched = case("a" * 32)
    failing = case(
        "b" * 32,
        last_fetched_at=NOW - timedelta(minutes=1),
        consecutive_failures=2,
        next_poll_at=NOW - timedelta(minutes=1),
    )
    older = case("c" * 32, last_fetched_at=NOW - timedelta(hours=2), next_poll_at=NOW - timedelta(hours=1))
    newest = case("d" * 32, last_fetched_at=NOW - timedelta(minutes=30), next_poll_at=NOW)
    due = due_cases([never_fetched, failing, older, newest], NOW, min_poll_interval=15)
    assert ids(due) == ["d" * 32, "a" * 32, "c" * 32, "b" * 32]


RECHECKS = [86400, 604800]


def completed(days_ago: float, reported_days_ago: float | None = None, **changes) -> TrackedCase:
    seen = NOW - timedelta(days=days_ago)
    reported = NOW - timedelta(days=reported_days_ago if reported_days_ago is not None else days_ago)
    return case(last_status="completed", terminal_seen_at=seen, last_report_at=reported, **changes)


def test_a_terminal_case_is_rechecked_once_per_recheck_time():
    due = lambda c: ids(due_cases([c], NOW, min_poll_interval=15, recheck_terminal_after=RECHECKS))
    assert due(completed(0.5)) == []  # no re-check time has passed yet
    assert due(completed(1.5)) == ["a" * 32]  # a day after: the first re-check
    assert due(completed(1.5, reported_days_ago=0.4)) == []  # answered after the first time
    assert due(completed(8, reported_days_ago=6.5)) == ["a" * 32]  # a week after: the second
    assert due(completed(30, reported_days_ago=20)) == []  # both answered: never again
    assert due(completed(30)) == ["a" * 32]  # both passed unanswered (cron stopped): one request for both
    assert due_cases([completed(30)], NOW, min_poll_interval=15, recheck_terminal_after=[]) == []


def test_a_recheck_waits_for_min_poll_interval_and_a_failed_one_for_its_backoff():
    recent = completed(1.5, reported_days_ago=5 / 86400)
    assert due_cases([recent], NOW, min_poll_interval=15, recheck_terminal_after=RECHECKS) == []
    failed = completed(1.5, next_poll_at=NOW + timedelta(minutes=1), consecutive_failures=1)
    assert due_cases([failed], NOW, min_poll_interval=15, recheck_terminal_after=RECHECKS) == []


def test_a_case_terminal_before_terminal_seen_at_counts_from_its_first_completion():
    old = case(
        last_status="completed", first_completed_at=NOW - timedelta(days=400), last_fetched_at=NOW - timedelta(days=400)
    )
    assert old.terminal_since == NOW - timedelta(days=400)
    assert ids(due_cases([old], NOW, min_poll_interval=15, recheck_terminal_after=RECHECKS)) == ["a" * 32]
    rechecked = poll(old, "same", status="completed")
    assert (rechecked.terminal_seen_at, rechecked.first_completed_at) == (old.first_completed_at,) * 2
    assert due_cases([rechecked], NOW, min_poll_interval=15, recheck_terminal_after=RECHECKS) == []


def test_a_reopened_case_is_open_without_a_last_completion_until_it_completes_again():
    done = poll(case(), "v1", status="completed", at=NOW - timedelta(days=2))
    assert done.last_completed_at == done.terminal_seen_at == done.first_completed_at == NOW - timedelta(days=2)
    again = poll(done, "v1", status="completed", at=NOW - timedelta(days=1))
    assert again.last_completed_at == NOW - timedelta(days=2)  # fetched terminal again: not a new completion
    reopened = poll(again, "v2", status="in_progress", at=NOW)
    assert (reopened.last_completed_at, reopened.terminal_seen_at) == (None, None)
    assert reopened.first_completed_at == NOW - timedelta(days=2)
    assert (reopened.poll_step, reopened.next_poll_at) == (0, NOW + timedelta(seconds=INTERVALS[0]))
    later = NOW + timedelta(hours=1)
    completed_again = poll(reopened, "v3", status="completed", at=later)
    assert (completed_again.last_completed_at, completed_again.terminal_seen_at) == (later, later)
    assert completed_again.first_completed_at == NOW - timedelta(days=2)


def test_an_untracked_case_is_not_due_until_tracked_again():
    open_case = poll(case(), "h1")
    gone = untracked(open_case, NOW)
    assert due_cases([gone], NOW + timedelta(days=1), min_poll_interval=15, all_open=True) == []
    back = tracked_again(gone)
    assert back.untracked_at is None and back.report_hash == "h1"
    assert ids(due_cases([back], NOW + timedelta(minutes=1), min_poll_interval=15)) == [back.case_id]
