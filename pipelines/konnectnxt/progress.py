"""Progress of the fetch on stderr: a bar on a terminal, a plain line every tenth otherwise."""

import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO, TypeVar

logger = logging.getLogger("bgv")
Item = TypeVar("Item")


def reported_as_they_come(
    items: Iterator[Item], total: int, on_progress: Callable[[int, int], None] | None
) -> Iterator[Item]:
    """The items, calling `on_progress(done, total)` as each arrives (before anything holds it back)."""
    for done, item in enumerate(items, start=1):
        if on_progress:
            on_progress(done, total)
        yield item


class FetchProgress:
    """Called with (done, total) after each case; draws or logs without flooding cron mail."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.on_terminal = self.stream.isatty()
        self.started: float | None = None
        self._last_tenth = 0

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.started is None:
            self.started = time.monotonic()
        if done == 0:
            return
        if self.on_terminal:
            width = 30
            filled = int(width * done / total)
            rate = done / max(time.monotonic() - self.started, 1e-6)
            self.stream.write(f"\rfetching [{'#' * filled}{'.' * (width - filled)}] {done}/{total} cases, {rate:.1f}/s")
            if done == total:
                self.stream.write("\n")
            self.stream.flush()
            return
        tenth = done * 10 // total
        if tenth > self._last_tenth or done == total:
            self._last_tenth = tenth
            logger.info("fetched %d/%d cases (%.0f s)", done, total, time.monotonic() - self.started)
