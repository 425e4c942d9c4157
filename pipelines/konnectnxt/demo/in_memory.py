"""A client that serves reports from memory instead of HTTP: the source without a server, for tests and benchmarks."""

import threading
from datetime import UTC, datetime
from typing import Any

from ..client import FetchOutcome, RequestCounters


class InMemoryClient:
    """Answers like `KonnectNxtClient.fetch_report`: the report `data` of a known id, a 404 otherwise."""

    def __init__(self, reports: dict[str, dict[str, Any]]) -> None:
        self.reports = reports
        self.counters = RequestCounters()
        self.requested: list[str] = []
        self._lock = threading.Lock()

    def fetch_report(self, case_id: str) -> FetchOutcome:
        with self._lock:
            self.counters.requests += 1
            self.requested.append(case_id)
        data = self.reports.get(case_id)
        if data is None:
            return FetchOutcome(case_id, datetime.now(UTC), http_status=404, error="HTTP 404: Case not found.")
        return FetchOutcome(case_id, datetime.now(UTC), data=data, http_status=200)

    def stop(self) -> None:
        pass
