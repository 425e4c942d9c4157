"""`--status`: how the pipeline is doing, read from the warehouse alone, with an exit code for monitors.

No API request, no run lock: the warehouse is opened read-only, queried and closed (see reading.py).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .config import load_configuration
from .destinations import dataset_name, destination_type
from .errors import EXIT_OK, EXIT_PARTIAL, DestinationError
from .polling_state import OPEN_CASE
from .reading import WarehouseNotFound, read_warehouse
from .timestamps import age_text, timestamp

LAST_RUNS = 5
# Runs that loaded what they could: 1 is "some cases failed", which a single id that keeps failing
# would make permanent; every failure to run at all (key, URL, lock, warehouse) is 2 or more.
SUCCESSFUL_EXIT_CODES = (0, 1)


@dataclass
class StatusReport:
    """What --status read, and the exit code it gives."""

    pipeline_name: str
    location: str
    dataset: str
    max_age_minutes: float
    runs: list[dict[str, Any]] = field(default_factory=list)
    last_success: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    oldest_open: tuple[str, datetime | None] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def health(self) -> tuple[int, str]:
        """(exit code, why): 0 when the last run succeeded within max_age_minutes, else 1."""
        limit = f"health_max_age_minutes = {self.max_age_minutes:g}"
        if not self.runs:
            return EXIT_PARTIAL, "no run is recorded in runs yet"
        last = self.runs[0]
        finished = last["finished_at"] or last["started_at"]
        ago = age_text((self.now - finished).total_seconds()) if finished else "at an unknown time"
        if last["exit_code"] not in SUCCESSFUL_EXIT_CODES:
            return EXIT_PARTIAL, f"the last run failed {ago} ago with exit {last['exit_code']}: {last['error']}"
        if finished is None or (self.now - finished).total_seconds() > self.max_age_minutes * 60:
            return EXIT_PARTIAL, f"the last run finished {ago} ago, longer than {limit} (is cron running?)"
        partial = " (partial: some cases failed, see fetch_errors)" if last["exit_code"] == EXIT_PARTIAL else ""
        return EXIT_OK, f"the last run finished {ago} ago with exit {last['exit_code']}{partial} ({limit})"


def read_status(pipeline_name: str) -> StatusReport:
    """The status of the pipeline's warehouse; no warehouse (or none readable) is exit 2."""
    configuration = load_configuration(require_api_key=False)
    wait = configuration.lock_wait_seconds
    dataset = dataset_name(pipeline_name, destination_type(pipeline_name))
    try:
        first = read_warehouse(
            {
                "columns": "select column_name from information_schema.columns where table_schema = "
                f"'{dataset}' and table_name = 'tracked_cases'",
                "runs": "select started_at, finished_at, exit_code, cases_due, cases_fetched, cases_failed, error "
                f"from {{dataset}}.runs order by started_at desc limit {LAST_RUNS}",
                "last_success": "select max(finished_at) as finished_at from {dataset}.runs where exit_code in "
                f"({', '.join(map(str, SUCCESSFUL_EXIT_CODES))})",
            },
            pipeline_name,
            wait_seconds=wait,
        )
        if first.frames["runs"] is None:
            raise WarehouseNotFound(
                f"no warehouse at {first.location} (no {first.dataset}.runs table): the pipeline has not run here yet"
            )
        report = StatusReport(pipeline_name, first.location, first.dataset, configuration.health_max_age_minutes)
        report.runs = [_plain(row) for row in first.frames["runs"].to_dict("records")]
        report.last_success = _plain_value(first.frames["last_success"].iloc[0, 0])
        columns = set(first.frames["columns"]["column_name"])
        if columns:
            _read_cases(report, pipeline_name, columns, wait)
    except WarehouseNotFound as exc:
        raise DestinationError(str(exc)) from None
    return report


def _read_cases(report: StatusReport, pipeline_name: str, columns: set[str], wait: float) -> None:
    untracked = "t.untracked_at is not null" if "untracked_at" in columns else "false"
    open_case = f"t.not_found_at is null and not ({untracked}) and {OPEN_CASE}"
    data = read_warehouse(
        {
            "counts": f"select count(*) as tracked, count(*) filter (where {open_case}) as open_cases, "
            "count(*) filter (where t.not_found_at is not null) as not_found, "
            f"count(*) filter (where {untracked}) as untracked from {{dataset}}.tracked_cases t",
            "oldest": f"select t.case_id, t.added_at from {{dataset}}.tracked_cases t where {open_case} "
            "order by t.added_at, t.case_id limit 1",
        },
        pipeline_name,
        wait_seconds=wait,
    )
    values = [int(value) for value in data.frames["counts"].iloc[0]]
    report.counts = dict(zip(("tracked", "open", "not found", "untracked"), values, strict=True))
    oldest = data.frames["oldest"]
    if len(oldest):
        report.oldest_open = (oldest.iloc[0, 0], _plain_value(oldest.iloc[0, 1]))


def format_status(report: StatusReport) -> str:
    code, why = report.health
    where = f"pipeline {report.pipeline_name}, database {report.location}, dataset {report.dataset}"
    lines = [
        f"{timestamp(report.now)} bgv status ({where})",
        f"  health:        {'OK' if code == EXIT_OK else 'ALERT'}: {why}",
    ]
    counts = report.counts
    if counts:
        lines.append(
            f"  cases:         {counts['tracked']} tracked, {counts['open']} open, {counts['not found']} not found, "
            f"{counts['untracked']} untracked"
        )
    if report.oldest_open:
        case_id, added_at = report.oldest_open
        since = f" tracked since {timestamp(added_at)} ({age_text((report.now - added_at).total_seconds())})"
        lines.append(f"  oldest open:   {case_id}{since if added_at else ''}")
    if report.last_success:
        ago = age_text((report.now - report.last_success).total_seconds())
        lines.append(f"  last success:  finished {timestamp(report.last_success)} ({ago} ago)")
    else:
        lines.append("  last success:  none recorded")
    if report.runs:
        lines.append(f"  last runs (newest first): {'started':<24} exit   due  fetched  failed  error")
        for run in report.runs:
            started = timestamp(run["started_at"]) if run["started_at"] else "?"
            lines.append(
                f"{'':<29}{started:<24} {run['exit_code']:>4} {run['cases_due'] or 0:>5} "
                f"{run['cases_fetched'] or 0:>8} {run['cases_failed'] or 0:>7}  {run['error'] or ''}"
            )
    return "\n".join(lines)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain_value(value) for key, value in row.items()}


def _plain_value(value: Any) -> Any:
    """pandas' Timestamp, NaT, NaN and numpy numbers as Python values."""
    if value is None:
        return None
    try:
        import pandas

        if pandas.isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if hasattr(value, "to_pydatetime"):
        moment = value.to_pydatetime()
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return value.item() if hasattr(value, "item") else value
