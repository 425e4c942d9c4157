"""Poll times written by a clock that ran ahead: taken as now, so that no case freezes until the clock catches up."""

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from .schedule import TrackedCase

# A stored time further ahead than this was written by a clock that ran ahead.
CLOCK_TOLERANCE = timedelta(minutes=5)


def with_future_times_as_now(
    tracked: Iterable[TrackedCase], now: datetime, longest_wait: float
) -> tuple[list[TrackedCase], list[TrackedCase]]:
    """(all cases, the corrected ones): poll times from a clock that ran ahead are taken as now.

    A last poll more than 5 minutes ahead, or a next poll further ahead than the longest backoff
    could set, would otherwise freeze the case until the clock catches up.
    """
    limit, next_limit = now + CLOCK_TOLERANCE, now + CLOCK_TOLERANCE + timedelta(seconds=longest_wait)
    cases, corrected = [], []
    for case in tracked:
        changes = {
            name: now
            for name in ("last_polled_at", "last_report_at", "last_fetched_at", "added_at", "terminal_seen_at")
            if (value := getattr(case, name)) is not None and value > limit
        }
        if case.next_poll_at is not None and (case.next_poll_at > next_limit or changes):
            changes["next_poll_at"] = now
        if changes:
            case = replace(case, **changes)
            corrected.append(case)
        cases.append(case)
    return cases, corrected
