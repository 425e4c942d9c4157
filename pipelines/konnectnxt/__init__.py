"""KonnectNXT BGV reports as a dlt source: cases, checks, entries, fields, documents and polling state."""

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
from dlt.extract import materialize_schema_item
from dlt.sources import DltResource

from .client import FetchOutcome, KonnectNxtClient, fetch_reports
from .config import KonnectNxtConfiguration
from .pii import pii_fingerprint, protect_report_rows
from .schedule import TrackedCase, after_failure, after_report, is_terminal
from .settings import (
    CASE_STATUS_HISTORY,
    CASES,
    CHECK_DOCUMENTS,
    CHECK_FIELDS,
    CHECK_STATUS_HISTORY,
    CHECKS,
    ENTRIES,
    FETCH_ERRORS,
    FORGOTTEN_CASES,
    REPORT_SETTINGS,
    RUNS,
    SLA_TARGETS,
    TOMBSTONE_COLUMN,
    TRACKED_CASES,
)
from .transform import ReportRows, report_fingerprint, report_rows

logger = logging.getLogger("bgv")
# Polled cases travel to the table resources in batches: dlt's cost per item dominated otherwise.
POLLED_BATCH_SIZE = 250


@dataclass
class RunStats:
    """What one run's polling did, for the summary and the exit code."""

    run_id: str
    due: int = 0
    fetched: int = 0
    changed: int = 0
    newly_completed: int = 0
    failed: int = 0
    unparsed_completed_at: int = 0
    failures: list[str] = field(default_factory=list)
    status_changes: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    marked_not_found: list[str] = field(default_factory=list)
    reported_at: dict[str, datetime] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    on_progress: Callable[[int, int], None] | None = None


@dataclass
class PolledCase:
    """One case after its poll: new bookkeeping, the outcome, and its rows if a report came back."""

    tracked: TrackedCase
    rows: ReportRows | None = None
    fetch_error: dict[str, Any] | None = None
    case_history: list[dict[str, Any]] = field(default_factory=list)
    check_history: list[dict[str, Any]] = field(default_factory=list)


def _text(*, nullable: bool = True) -> dict[str, Any]:
    return {"data_type": "text", "nullable": nullable}


def _timestamp() -> dict[str, Any]:
    return {"data_type": "timestamp", "timezone": True}


def _bigint() -> dict[str, Any]:
    return {"data_type": "bigint"}


def _tombstone() -> dict[str, Any]:
    return {"data_type": "bool", "hard_delete": True}


def tracked_cases_columns() -> dict[str, dict[str, Any]]:
    return {
        "case_id": _text(nullable=False),
        "source": _text(),
        "added_at": _timestamp(),
        "last_polled_at": _timestamp(),
        "next_poll_at": _timestamp(),
        "poll_step": _bigint(),
        "consecutive_failures": _bigint(),
        "last_error": _text(),
        "last_status": _text(),
        "report_hash": _text(),
        "first_not_found_at": _timestamp(),
        "not_found_at": _timestamp(),
        "pii_mode": _text(),
    }


def _child_columns(index_column: str, **extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "case_id": _text(nullable=False),
        "check_key": _text(),
        index_column: _bigint(),
        **extra,
        TOMBSTONE_COLUMN: _tombstone(),
    }


@dlt.source(name="konnectnxt", max_table_nesting=0)
def case_registry(rows: list[dict[str, Any]]) -> DltResource:
    """New ids entering `tracked_cases`, loaded before any request is sent (same schema as the source)."""
    return dlt.resource(
        [rows], name=TRACKED_CASES, write_disposition="merge", primary_key="case_id", columns=tracked_cases_columns()
    )


def runs_columns() -> dict[str, dict[str, Any]]:
    counters = [
        "cases_tracked",
        "cases_registered",
        "cases_due",
        "cases_fetched",
        "cases_changed",
        "cases_completed",
        "cases_failed",
        "cases_marked_not_found",
        "requests",
        "retries",
        "exit_code",
    ]
    return {
        "run_id": _text(nullable=False),
        "pipeline_name": _text(),
        "started_at": _timestamp(),
        "finished_at": _timestamp(),
        **{name: _bigint() for name in counters},
        "error": _text(),
        "pipeline_version": _text(),
    }


@dlt.source(name="konnectnxt", max_table_nesting=0)
def run_record(row: dict[str, Any], sla_days: dict[str, float], report_timezone: str) -> Sequence[DltResource]:
    """One row of `runs` (what a run did, how it ended), and the settings the views read."""
    return [
        dlt.resource([row], name=RUNS, write_disposition="append", columns=runs_columns()),
        dlt.resource(
            [[{"check_type": check_type, "sla_days": days} for check_type, days in sla_days.items()]],
            name=SLA_TARGETS,
            write_disposition="replace",
            columns={"check_type": _text(nullable=False), "sla_days": {"data_type": "double"}},
        ),
        dlt.resource(
            [{"report_timezone": report_timezone}],
            name=REPORT_SETTINGS,
            write_disposition="replace",
            columns={"report_timezone": _text()},
        ),
    ]


@dlt.source(name="konnectnxt", max_table_nesting=0)
def forgotten_record(rows: list[dict[str, Any]]) -> DltResource:
    """Ids that were forgotten (--forget), with the time: nothing else of them is kept."""
    return dlt.resource(
        [rows],
        name=FORGOTTEN_CASES,
        write_disposition="merge",
        primary_key="case_id",
        columns={"case_id": _text(nullable=False), "forgotten_at": _timestamp()},
    )


@dlt.source(name="konnectnxt", max_table_nesting=0)
def konnectnxt(
    due_cases: Sequence[TrackedCase],
    configuration: KonnectNxtConfiguration,
    stats: RunStats,
    stored_check_statuses: dict[str, dict[str, tuple]] | None = None,
    client: KonnectNxtClient | None = None,
) -> Sequence[DltResource]:
    """Polls `due_cases` and emits their report rows and bookkeeping, one table per resource.

    `stored_check_statuses` (case_id -> check_key -> (status, result)) is what the warehouse holds now;
    a check's history gets a row only when its status or result differs from it. `client` replaces the
    HTTP client built from `configuration` (the benchmark feeds reports from memory).
    """
    client = client or KonnectNxtClient(
        configuration.base_url,
        configuration.api_key,
        timeout=configuration.request_timeout,
        max_attempts=configuration.max_attempts,
        max_retries_per_run=configuration.max_retries_per_run,
        retry_base_delay=configuration.retry_base_delay,
        retry_max_delay=configuration.retry_max_delay,
        max_requests_per_second=configuration.max_requests_per_second,
    )
    polled = polled_cases(due_cases, client, configuration, stats, stored_check_statuses or {})
    return [
        polled | tracked_cases,
        polled | case_status_history,
        polled | check_status_history,
        polled | cases,
        polled | checks,
        polled | entries,
        polled | check_fields,
        polled | check_documents,
        polled | fetch_errors,
    ]


@dlt.resource(selected=False)
def polled_cases(
    due_cases: Sequence[TrackedCase],
    client: KonnectNxtClient,
    configuration: KonnectNxtConfiguration,
    stats: RunStats,
    stored_check_statuses: dict[str, dict[str, tuple]],
) -> Iterator[list[PolledCase]]:
    """Fetches each due case once and turns the answers into rows and new bookkeeping, in batches."""
    by_id = {case.case_id: case for case in due_cases}
    stats.due = len(by_id)
    outcomes = fetch_reports(client, list(by_id), configuration.workers)
    if stats.on_progress:
        stats.on_progress(0, stats.due)
    batch: list[PolledCase] = []
    try:
        for done, outcome in enumerate(outcomes, start=1):
            case = by_id[outcome.case_id]
            batch.append(poll_result(case, outcome, configuration, stats, stored_check_statuses.get(case.case_id, {})))
            if len(batch) >= POLLED_BATCH_SIZE:
                yield batch
                batch = []
            if stats.on_progress:
                stats.on_progress(done, stats.due)
        if batch:
            yield batch
    finally:
        stats.requests, stats.retries = client.counters.requests, client.counters.retries


def poll_result(
    case: TrackedCase,
    outcome: FetchOutcome,
    configuration: KonnectNxtConfiguration,
    stats: RunStats,
    stored_checks: dict[str, tuple] | None = None,
) -> PolledCase:
    """The bookkeeping and rows of one fetch outcome; counts it in `stats`."""
    intervals = {"poll_intervals": configuration.poll_intervals, "min_poll_interval": configuration.min_poll_interval}
    if not outcome.ok:
        stats.failed += 1
        stats.failures.append(f"{outcome.case_id}: {outcome.error}")
        tracked = after_failure(
            case,
            polled_at=outcome.polled_at,
            error=outcome.error,
            http_status=outcome.http_status,
            not_found_after=timedelta(hours=configuration.not_found_after_hours),
            **intervals,
        )
        if tracked.not_found_at is not None:
            stats.marked_not_found.append(case.case_id)
        fetch_error = {
            "case_id": outcome.case_id,
            "http_status": outcome.http_status,
            "error_message": outcome.error,
            "attempts": outcome.attempts,
            "failed_at": datetime.now(UTC),
            "run_id": stats.run_id,
        }
        stats.rows.update({TRACKED_CASES: 1, FETCH_ERRORS: 1})
        return PolledCase(tracked, fetch_error=fetch_error)
    status = outcome.data.get("status")
    status = status if isinstance(status, str) else None
    pii_mode = pii_fingerprint(configuration.pii, configuration.pii_salt)
    tracked = after_report(
        case,
        polled_at=outcome.polled_at,
        status=status,
        fingerprint=report_fingerprint(outcome.data),
        pii_mode=pii_mode,
        **intervals,
    )
    rows = report_rows(
        case.case_id,
        outcome.data,
        fetched_at=outcome.polled_at,
        first_seen_at=case.first_seen_at,
        report_timezone=configuration.timezone,
    )
    protect_report_rows(rows, configuration.pii, configuration.pii_salt)
    rows.case["first_completed_at"] = tracked.first_completed_at
    rows.case["last_completed_at"] = tracked.last_completed_at
    case_history, check_history = status_history(case, rows, stored_checks or {}, outcome.polled_at)
    stats.fetched += 1
    stats.reported_at[case.case_id] = outcome.polled_at
    stats.changed += tracked.report_hash != case.report_hash
    stats.newly_completed += is_terminal(status) and not is_terminal(case.last_status)
    stats.unparsed_completed_at += rows.unparsed_completed_at
    if case.last_status != status:
        stats.status_changes[(case.last_status, status)] += 1
    stats.rows.update(
        {
            TRACKED_CASES: 1,
            CASES: 1,
            CHECKS: len(rows.checks),
            ENTRIES: len(rows.entries),
            CHECK_FIELDS: len(rows.check_fields),
            CHECK_DOCUMENTS: len(rows.check_documents),
        }
    )
    stats.rows.update({CASE_STATUS_HISTORY: len(case_history), CHECK_STATUS_HISTORY: len(check_history)})
    return PolledCase(tracked, rows=rows, case_history=case_history, check_history=check_history)


def status_history(
    case: TrackedCase, rows: ReportRows, stored_checks: dict[str, tuple], observed_at: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """History rows for the case and each check whose status or result differs from what is stored."""
    generated_at = rows.case.get("generated_at")
    generated_at = generated_at if isinstance(generated_at, datetime) else None
    case_rows = []
    status, result = rows.case.get("status"), rows.case.get("result")
    if case.first_seen_at is None or (status, result) != (case.last_status, case.last_result):
        case_rows.append(
            {
                "case_id": case.case_id,
                "status": status,
                "result": result,
                "observed_at": observed_at,
                "generated_at": generated_at,
            }
        )
    check_rows = [
        {
            "case_id": case.case_id,
            "check_key": check["check_key"],
            "check_type": check["check_type"],
            "status": check["status"],
            "result": check["result"],
            "observed_at": observed_at,
            "generated_at": generated_at,
        }
        for check in rows.checks
        if stored_checks.get(check["check_key"]) != (check["status"], check["result"])
    ]
    return case_rows, check_rows


def _snapshot_rows(batch: list[PolledCase], table: str) -> list[dict[str, Any]]:
    """Each fetched case's rows of one child table; a case whose snapshot has none gets a tombstone,
    a hard-delete row that removes its old rows and is never inserted."""
    rows: list[dict[str, Any]] = []
    for polled in batch:
        if polled.rows:
            rows.extend(getattr(polled.rows, table) or [{"case_id": polled.tracked.case_id, TOMBSTONE_COLUMN: True}])
    return rows


@dlt.transformer(name=TRACKED_CASES, write_disposition="merge", primary_key="case_id", columns=tracked_cases_columns())
def tracked_cases(batch: list[PolledCase]) -> Iterator[list[dict[str, Any]]]:
    yield [polled.tracked.row() for polled in batch]


def _history_columns(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "case_id": _text(nullable=False),
        **extra,
        "status": _text(),
        "result": _text(),
        "observed_at": _timestamp(),
        "generated_at": _timestamp(),
    }


@dlt.transformer(name=CASE_STATUS_HISTORY, write_disposition="append", columns=_history_columns())
def case_status_history(batch: list[PolledCase]) -> Iterator[Any]:
    yield [row for polled in batch for row in polled.case_history] or materialize_schema_item()


@dlt.transformer(
    name=CHECK_STATUS_HISTORY,
    write_disposition="append",
    columns=_history_columns(check_key=_text(), check_type=_text()),
)
def check_status_history(batch: list[PolledCase]) -> Iterator[Any]:
    yield [row for polled in batch for row in polled.check_history] or materialize_schema_item()


@dlt.transformer(
    name=CASES,
    write_disposition="merge",
    primary_key="case_id",
    columns={
        "case_id": _text(nullable=False),
        "reference_id": _text(),
        "status": _text(),
        "result": _text(),
        "candidate_name": _text(),
        "candidate_photo": _text(),
        "generated_at": _timestamp(),
        "first_seen_at": _timestamp(),
        "last_fetched_at": _timestamp(),
        "first_completed_at": _timestamp(),
        "last_completed_at": _timestamp(),
    },
)
def cases(batch: list[PolledCase]) -> Iterator[list[dict[str, Any]]]:
    rows = [polled.rows.case for polled in batch if polled.rows]
    if rows:
        yield rows


@dlt.transformer(
    name=CHECKS,
    write_disposition="merge",
    merge_key="case_id",
    columns={
        "case_id": _text(nullable=False),
        "check_key": _text(),
        "check_type": _text(),
        "check_name": _text(),
        "category": _text(),
        "status": _text(),
        "result": _text(),
        "completed_at": _timestamp(),
        "completed_at_raw": _text(),
        "remark": _text(),
        TOMBSTONE_COLUMN: _tombstone(),
    },
)
def checks(batch: list[PolledCase]) -> Iterator[list[dict[str, Any]]]:
    rows = _snapshot_rows(batch, "checks")
    if rows:
        yield rows


@dlt.transformer(name=ENTRIES, write_disposition="merge", merge_key="case_id", columns=_child_columns("entry_index"))
def entries(batch: list[PolledCase]) -> Iterator[list[dict[str, Any]]]:
    rows = _snapshot_rows(batch, "entries")
    if rows:
        yield rows


@dlt.transformer(
    name=CHECK_FIELDS,
    write_disposition="merge",
    merge_key="case_id",
    columns=_child_columns("field_index", label=_text(), value=_text()),
)
def check_fields(batch: list[PolledCase]) -> Iterator[list[dict[str, Any]]]:
    rows = _snapshot_rows(batch, "check_fields")
    if rows:
        yield rows


@dlt.transformer(
    name=CHECK_DOCUMENTS,
    write_disposition="merge",
    merge_key="case_id",
    columns=_child_columns("document_index", url=_text()),
)
def check_documents(batch: list[PolledCase]) -> Iterator[list[dict[str, Any]]]:
    rows = _snapshot_rows(batch, "check_documents")
    if rows:
        yield rows


@dlt.transformer(
    name=FETCH_ERRORS,
    write_disposition="append",
    columns={
        "case_id": _text(nullable=False),
        "http_status": _bigint(),
        "error_message": _text(),
        "attempts": _bigint(),
        "failed_at": _timestamp(),
        "run_id": _text(),
    },
)
def fetch_errors(batch: list[PolledCase]) -> Iterator[Any]:
    # The empty marker creates the table on the first load, so users can query it before any failure.
    yield [polled.fetch_error for polled in batch if polled.fetch_error] or materialize_schema_item()
