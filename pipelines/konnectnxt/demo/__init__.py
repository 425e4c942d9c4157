"""The demo: a local sandbox of the KonnectNXT API serving 50 fake cases, and reports from memory.

Imported only for `--demo`, by the tests and by the benchmarks; never on the production path.
"""

from datetime import datetime
from typing import Self

from .fake_reports import demo_case_ids
from .sandbox import DEMO_API_KEY, Sandbox

__all__ = ["DemoApi", "demo_case_ids"]


class DemoApi:
    """The sandbox for `--demo`: where requests go, and the demo's cases once its start is known."""

    api_key = DEMO_API_KEY

    def __init__(self) -> None:
        self.sandbox = Sandbox(api_key=DEMO_API_KEY)

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def start_cases(self, demo_started_at: datetime) -> None:
        """Serve the demo cases as they stand now, for a demo that started at `demo_started_at`."""
        self.sandbox.add_demo_cases(demo_started_at.timestamp())

    def __enter__(self) -> Self:
        self.sandbox.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.stop()
