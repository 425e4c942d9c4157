"""`max_run_seconds`: a timer that stops the client's requests once the run has lasted that long."""

import threading
from datetime import UTC, datetime
from typing import Any


class RunDeadline:
    """Stops the client's requests once the run has lasted `seconds` since it started."""

    def __init__(self, client: Any, started_at: datetime, seconds: float) -> None:
        self.client = client
        self.reached = threading.Event()
        remaining = seconds - (datetime.now(UTC) - started_at).total_seconds()
        self._timer = threading.Timer(max(0.0, remaining), self._stop)
        self._timer.daemon = True
        self._timer.start()

    def _stop(self) -> None:
        self.reached.set()
        self.client.stop()

    def cancel(self) -> None:
        self._timer.cancel()
