"""The rows of the bookkeeping tables the pipeline builds itself: their fields are the tables' columns."""

from dataclasses import asdict, dataclass
from datetime import datetime


@dataclass
class RunRecord:
    """The `runs` row of one run."""

    run_id: str
    pipeline_name: str
    started_at: datetime
    finished_at: datetime
    cases_tracked: int | None
    cases_registered: int
    cases_due: int
    cases_fetched: int
    cases_changed: int
    cases_completed: int
    cases_failed: int
    cases_marked_not_found: int
    requests: int
    retries: int
    exit_code: int
    error: str | None
    pipeline_version: str


@dataclass(frozen=True)
class SchemaChange:
    """A `schema_changes` row: a column a run added, or a new type of a column's values."""

    run_id: str
    table_name: str
    column_name: str
    data_type: str
    change: str
    first_seen_at: datetime
    # One case whose report brought it (NULL once that case is forgotten).
    case_id: str | None

    def row(self) -> dict:
        return asdict(self)
