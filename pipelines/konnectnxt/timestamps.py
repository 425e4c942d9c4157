"""The one way times are written in what the command line prints: ISO with the offset, like the log lines."""

from datetime import datetime

# As in `2026-12-01T19:30:00+0000`: the log lines, every `bgv:` line and the summaries' first lines.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def timestamp(moment: datetime | None = None) -> str:
    """`moment` (default now) in the machine's local time, as the log lines show it."""
    return (moment or datetime.now()).astimezone().strftime(TIME_FORMAT)


def age_text(seconds: float) -> str:
    """A duration for people: `45 s`, `12 min`, `5.2 h`, `3.1 days`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
