"""Polling schedule: which tracked cases are due, and their bookkeeping after a poll."""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from .settings import NOT_FOUND_MIN_ATTEMPTS, TERMINAL_STATUSES


@dataclass(frozen=True)
class TrackedCase:
    """One row of `tracked_cases`, plus what the run reads from `cases` to schedule it."""

    case_id: str
    source: str
    added_at: datetime
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    poll_step: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    last_status: str | None = None
    report_hash: str | None = None
    first_not_found_at: datetime | None = None
    not_found_at: datetime | None = None
    pii_mode: str | None = None
    # The last request that returned a report (stale ones too): min_poll_interval counts from it.
    last_report_at: datetime | None = None
    # When we first saw the case terminal since it last was open (None while open): re-checks count from it.
    terminal_seen_at: datetime | None = None
    # 404 answers since first_not_found_at: marking not found needs several, not only the hours.
    not_found_attempts: int = 0
    # Set by --untrack: no longer polled, data kept; --case-id tracks it again.
    untracked_at: datetime | None = None
    # Read from `cases`, not stored in `tracked_cases` (see FROM_CASES):
    first_seen_at: datetime | None = None
    last_fetched_at: datetime | None = None
    last_result: str | None = None
    first_completed_at: datetime | None = None
    last_completed_at: datetime | None = None
    last_generated_at: datetime | None = None

    @property
    def reported_at(self) -> datetime | None:
        """When a request last returned a report (warehouses from before last_report_at: the last fetch)."""
        return self.last_report_at or self.last_fetched_at

    @property
    def terminal_since(self) -> datetime | None:
        """When we first saw the case terminal; for cases terminal before terminal_seen_at existed, their
        first completion (or last fetch)."""
        return self.terminal_seen_at or self.first_completed_at or self.last_fetched_at

    def row(self) -> dict[str, Any]:
        """The `tracked_cases` row."""
        row = asdict(self)
        for name in FROM_CASES:
            del row[name]
        return row


# TrackedCase fields read from the `cases` row (column name there) rather than stored in tracked_cases.
FROM_CASES = {
    "first_seen_at": "first_seen_at",
    "last_fetched_at": "last_fetched_at",
    "last_result": "result",
    "first_completed_at": "first_completed_at",
    "last_completed_at": "last_completed_at",
    "last_generated_at": "generated_at",
}
TRACKED_CASE_COLUMNS = [f.name for f in fields(TrackedCase) if f.name not in FROM_CASES]


def is_terminal(status: Any) -> bool:
    """Completed and rejected cases are final, in any case and spacing; every other status is open."""
    return isinstance(status, str) and status.strip().lower() in TERMINAL_STATUSES


def due_cases(
    tracked: Iterable[TrackedCase],
    now: datetime,
    *,
    min_poll_interval: float,
    all_open: bool = False,
    refresh_completed: bool = False,
    pii_mode: str = "keep",
    recheck_terminal_after: Sequence[float] = (),
    without_stored_report: Collection[str] = (),
) -> list[TrackedCase]:
    """Cases to request in this run, longest-waiting first.

    A case whose rows were stored under another PII mode is due too, terminal or not, so that changing
    the mode rewrites every stored row (from a fresh report: a hash cannot be turned back into a name).
    So is a case whose stored report is missing from the report tables (`without_stored_report`), and a
    terminal case a re-check is due for (`recheck_due`).
    """
    polite_after = now - timedelta(seconds=min_poll_interval)
    due = []
    for case in tracked:
        if case.not_found_at is not None or case.untracked_at is not None:
            continue
        if case.reported_at is not None and case.reported_at > polite_after:
            continue
        stored_under_other_mode = case.first_seen_at is not None and (case.pii_mode or "keep") != pii_mode
        if stored_under_other_mode or case.case_id in without_stored_report:
            due.append(case)
        elif is_terminal(case.last_status):
            if refresh_completed or recheck_due(case, now, recheck_terminal_after):
                due.append(case)
        elif all_open or case.next_poll_at is None or case.next_poll_at <= now:
            due.append(case)
    due.sort(key=lambda c: (c.next_poll_at is not None, c.next_poll_at or now, c.case_id))
    return probe_first(due)


def recheck_due(case: TrackedCase, now: datetime, recheck_terminal_after: Sequence[float]) -> bool:
    """A terminal case is requested once more when a re-check time has passed that no report answered.

    The re-check times are `recheck_terminal_after` seconds after `terminal_since`. Any report at or after
    a time answers it (a --refresh-completed too), so each time costs at most one request, and when several
    have passed (cron stopped, a warehouse upgraded) one request answers them all. A failed re-check is
    retried on the failure backoff (`next_poll_at`).
    """
    since = case.terminal_since
    if since is None or (case.next_poll_at is not None and case.next_poll_at > now):
        return False
    passed = [since + timedelta(seconds=s) for s in recheck_terminal_after if since + timedelta(seconds=s) <= now]
    return bool(passed) and (case.reported_at is None or case.reported_at < max(passed))


def probe_first(due: list[TrackedCase]) -> list[TrackedCase]:
    """Put first the case that most recently returned a report.

    A run's first request is sent alone and a 403 there counts as a bad key. A case the key may not
    read (403 forever) must never be that probe, or every run would stop on it.
    """
    proven = [c for c in due if c.reported_at is not None and c.consecutive_failures == 0]
    if not proven:
        return due
    probe = max(proven, key=lambda c: c.reported_at)
    return [probe, *(c for c in due if c is not probe)]


def poll_interval(step: int, poll_intervals: Sequence[float], min_poll_interval: float) -> timedelta:
    """The wait after `step` unchanged polls; the last interval repeats."""
    seconds = poll_intervals[min(step, len(poll_intervals) - 1)]
    return timedelta(seconds=max(seconds, min_poll_interval))


def after_report(
    case: TrackedCase,
    *,
    polled_at: datetime,
    status: str | None,
    fingerprint: str,
    result: Any = None,
    generated_at: datetime | None = None,
    poll_intervals: Sequence[float],
    min_poll_interval: float,
    pii_mode: str = "keep",
) -> TrackedCase:
    """Bookkeeping after a fetch that returned a report: a change resets the backoff.

    A case seen terminal keeps the time it was first seen so (`terminal_seen_at`, `last_completed_at`)
    until a report shows it open again (re-opened): then both are cleared, `first_completed_at` is kept,
    and the next completion sets them anew. Turnaround is measured to that last completion.
    """
    changed = fingerprint != case.report_hash
    step = 0 if changed else case.poll_step + 1
    terminal, was_terminal = is_terminal(status), is_terminal(case.last_status)
    next_poll_at = None if terminal else polled_at + poll_interval(step, poll_intervals, min_poll_interval)
    completed_at = (case.last_completed_at or case.terminal_since or polled_at) if was_terminal else polled_at
    return replace(
        case,
        last_polled_at=polled_at,
        next_poll_at=next_poll_at,
        poll_step=step,
        consecutive_failures=0,
        last_error=None,
        last_status=status,
        report_hash=fingerprint,
        first_not_found_at=None,
        not_found_at=None,
        not_found_attempts=0,
        pii_mode=pii_mode,
        last_report_at=polled_at,
        terminal_seen_at=((case.terminal_since if was_terminal else None) or polled_at) if terminal else None,
        first_seen_at=case.first_seen_at or polled_at,
        last_fetched_at=polled_at,
        last_result=result,
        last_generated_at=generated_at,
        first_completed_at=case.first_completed_at or (polled_at if terminal else None),
        last_completed_at=completed_at if terminal else None,
    )


def after_stale_report(
    case: TrackedCase, *, polled_at: datetime, poll_intervals: Sequence[float], min_poll_interval: float
) -> TrackedCase:
    """Bookkeeping after a report older than the stored one: only the poll itself is recorded.

    An older snapshot is not news: the backoff moves on as for an unchanged report.
    """
    step = case.poll_step + 1
    wait = poll_interval(step, poll_intervals, min_poll_interval)
    return replace(
        case,
        last_polled_at=polled_at,
        last_report_at=polled_at,
        next_poll_at=None if is_terminal(case.last_status) else polled_at + wait,
        poll_step=step,
        consecutive_failures=0,
        last_error=None,
    )


def after_failure(
    case: TrackedCase,
    *,
    polled_at: datetime,
    error: str,
    http_status: int | None,
    poll_intervals: Sequence[float],
    min_poll_interval: float,
    not_found_after: timedelta,
) -> TrackedCase:
    """Bookkeeping after a failed fetch: report data untouched, retry later on a growing backoff.

    An id that has answered nothing but 404 for `not_found_after`, and at least NOT_FOUND_MIN_ATTEMPTS
    times, is marked not found and no longer polled: a clock that jumps ahead cannot do it alone. A case
    that ever returned a report is never marked: its 404s are failures with backoff.
    """
    failures = case.consecutive_failures + 1
    first_not_found_at = case.first_not_found_at
    not_found_attempts = case.not_found_attempts
    if http_status == 404:
        first_not_found_at = first_not_found_at or polled_at
        not_found_attempts += 1
    not_found = (
        http_status == 404
        and case.reported_at is None
        and case.first_seen_at is None
        and not_found_attempts >= NOT_FOUND_MIN_ATTEMPTS
        and polled_at - first_not_found_at >= not_found_after
    )
    return replace(
        case,
        last_polled_at=polled_at,
        next_poll_at=None if not_found else polled_at + poll_interval(failures - 1, poll_intervals, min_poll_interval),
        consecutive_failures=failures,
        last_error=error,
        first_not_found_at=first_not_found_at,
        not_found_attempts=not_found_attempts,
        not_found_at=polled_at if not_found else None,
    )


def revived(case: TrackedCase) -> TrackedCase:
    """A case marked not found, polled again: named with `--case-id`, or by `--retry-not-found`."""
    return replace(
        case,
        not_found_at=None,
        first_not_found_at=None,
        not_found_attempts=0,
        next_poll_at=None,
        consecutive_failures=0,
    )


def tracked_again(case: TrackedCase) -> TrackedCase:
    """An untracked case (`--untrack`) named with `--case-id` again: polled from now on."""
    return replace(case, untracked_at=None, next_poll_at=None)


def untracked(case: TrackedCase, at: datetime) -> TrackedCase:
    """The case no longer polled (`--untrack`); everything stored about it stays."""
    return replace(case, untracked_at=at)


def new_registrations(sources: dict[str, str], known_case_ids: Iterable[str], added_at: datetime) -> list[TrackedCase]:
    """Tracked-case rows for ids not yet in the registry."""
    known = set(known_case_ids)
    return [
        TrackedCase(case_id=case_id, source=source, added_at=added_at)
        for case_id, source in sources.items()
        if case_id not in known
    ]
