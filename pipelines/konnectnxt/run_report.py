"""What a run did: the report behind the summary, the exit code and the `runs` row it leaves."""

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from . import run_record
from .bookkeeping_rows import RunRecord
from .config import KonnectNxtConfiguration
from .duckdb_file import no_duckdb_file_yet
from .errors import EXIT_OK, EXIT_PARTIAL, BgvError, NoSpaceLeft, no_space_left
from .polling import RunStats
from .redaction import redact
from .run_lock import run_lock
from .settings import DATASET_NAME
from .tables import REPORT_SETTINGS, RUNS, SLA_TARGETS
from .warehouse import Warehouse, lock_path, open_warehouse
from .warehouse_check import remember_run

logger = logging.getLogger("bgv")


@dataclass
class RunReport:
    """What the run did, for the summary, the `runs` row and the exit code."""

    pipeline_name: str
    stats: RunStats
    started_at: datetime
    destination: str = ""
    dataset: str = DATASET_NAME
    registered: int = 0
    revived: list[str] = field(default_factory=list)
    tracked: dict[str, int] = field(default_factory=dict)
    input_problems: list[str] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    views_failed: list[str] = field(default_factory=list)
    # What the warehouse's self-check found before picking what is due (self_check.py), one line.
    self_check: str | None = None
    # Vendor keys kept in vendor_overflow, columns and types the run added (`schema_changes.py`).
    schema_lines: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        problems = self.stats.failed or self.stats.kept_out or self.input_problems or self.views_failed
        return EXIT_PARTIAL if problems else EXIT_OK

    def note(self, text: str) -> None:
        """A line for both the log and the summary."""
        logger.warning("%s", text)
        self.notes.append(text)


def record_run(
    warehouse: Warehouse, report: RunReport, configuration: KonnectNxtConfiguration, exit_code: int, error: str | None
) -> None:
    """Append the run to `runs` and refresh the views' settings tables.

    Best effort, by SQL (through dlt while the warehouse lacks a column this version writes): it never
    changes the run's exit code, except that a full disk is said (exit 2) rather than left for the next
    run to find.
    """
    stats = report.stats
    row = RunRecord(
        run_id=stats.run_id,
        pipeline_name=report.pipeline_name,
        started_at=report.started_at,
        finished_at=datetime.now(UTC),
        cases_tracked=report.tracked.get("tracked"),
        cases_registered=report.registered,
        cases_due=stats.due,
        cases_fetched=stats.fetched,
        cases_changed=stats.changed,
        cases_completed=stats.newly_completed,
        cases_failed=stats.failed,
        cases_marked_not_found=len(stats.marked_not_found),
        requests=stats.requests,
        retries=stats.retries,
        exit_code=exit_code,
        error=redact(error) if error else None,
        pipeline_version=pipeline_version(),
    )
    sla_days = {check_type: float(days) for check_type, days in configuration.sla_days.items()}
    try:
        if warehouse.pipeline.has_pending_data:
            # A load would take the pending data first, and fail again with it: the row goes in alone.
            warehouse.insert_rows(RUNS.name, [asdict(row)])
        elif has_every_column(warehouse, asdict(row)):
            # By SQL rather than a load package of three tiny tables, which cost a sixth of a small run;
            # a warehouse that lacks a column (an older version made it) gets it through dlt below.
            if not settings_as_stored(warehouse, sla_days, configuration.report_timezone):
                replace_settings(warehouse, sla_days, configuration.report_timezone)
            warehouse.insert_rows(RUNS.name, [asdict(row)])
        else:
            record = run_record(asdict(row), sla_days, configuration.report_timezone)
            warehouse.load(record, log_level=logging.DEBUG)
    except Exception as exc:  # the run's outcome matters more than its record
        logger.debug("writing the runs row failed", exc_info=True)
        write_alone(warehouse, row)
        if full := no_space_left(exc, fallback=warehouse.label):
            raise NoSpaceLeft(full) from exc
        return
    remember_run(warehouse, row.run_id, row.finished_at)


def write_alone(warehouse: Warehouse, row: RunRecord) -> None:
    """After a failed load of the row (a full working dir): the row by SQL, when nothing of it is pending."""
    try:
        if not warehouse.pipeline.has_pending_data:
            warehouse.insert_rows(RUNS.name, [asdict(row)])
    except Exception:  # the database itself cannot take it either
        logger.debug("inserting the runs row failed", exc_info=True)


def has_every_column(warehouse: Warehouse, row: dict) -> bool:
    """Whether `runs` and the settings tables have every column this version writes."""
    return (
        set(row) <= warehouse.existing_columns(RUNS.name)
        and {"check_type", "sla_days"} <= warehouse.existing_columns(SLA_TARGETS.name)
        and {"report_timezone"} <= warehouse.existing_columns(REPORT_SETTINGS.name)
    )


def settings_as_stored(warehouse: Warehouse, sla_days: dict[str, float], report_timezone: str) -> bool:
    """Whether the settings tables the views read hold exactly these settings already."""
    stored_sla = warehouse.query(f"select check_type, sla_days from {{{SLA_TARGETS.name}}}")
    stored_timezone = warehouse.query(f"select report_timezone from {{{REPORT_SETTINGS.name}}}")
    same_sla = sorted((check_type, float(days)) for check_type, days in stored_sla) == sorted(sla_days.items())
    return same_sla and [tuple(row) for row in stored_timezone] == [(report_timezone,)]


def replace_settings(warehouse: Warehouse, sla_days: dict[str, float], report_timezone: str) -> None:
    """The settings tables the views read, replaced in one transaction."""
    with warehouse.client.begin_transaction():
        warehouse.query(f"delete from {{{SLA_TARGETS.name}}}")
        targets = [{"check_type": check_type, "sla_days": days} for check_type, days in sla_days.items()]
        warehouse.insert_rows(SLA_TARGETS.name, targets)
        warehouse.query(f"delete from {{{REPORT_SETTINGS.name}}}")
        warehouse.insert_rows(REPORT_SETTINGS.name, [{"report_timezone": report_timezone}])


def record_run_when_possible(
    report: RunReport, configuration: KonnectNxtConfiguration, exit_code: int, error: str
) -> None:
    """Record a run that failed before opening the warehouse, if one exists and is free right now."""
    try:
        if no_duckdb_file_yet(report.pipeline_name):
            return
        with run_lock(lock_path(report.pipeline_name)), open_warehouse(report.pipeline_name, 0) as warehouse:
            report.destination = warehouse.label
            record_run(warehouse, report, configuration, exit_code, error)
    except BgvError:
        logger.debug("runs row not written: the warehouse is busy or unusable")


def pipeline_version() -> str:
    try:
        return version("bgv-warehouse")
    except PackageNotFoundError:
        return "unknown"
