"""KonnectNXT BGV reports as dlt sources: polled reports and polling state, registration, run records.

Every resource takes its name, write disposition, keys and column hints from the table registry
(`tables.py`); what a fetch means is computed in `polling.py`.
"""

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import dlt
from dlt.sources import DltResource

from .client import FetchOutcome, RequestCounters
from .every_404 import EveryAnswer404
from .fetching import fetch_reports
from .polling import PolledCase, PollingRules, RunStats, StoredChecks, poll_outcome
from .progress import reported_as_they_come
from .schedule import TrackedCase
from .schema_settings import declared_table, keep_values_as_sent
from .settings import EVERY_404_MIN_ANSWERS, POLLED_BATCH_SIZE, SOURCE_NAME
from .table_spec import TOMBSTONE_COLUMN, Table
from .tables import (
    FORGOTTEN_CASES,
    REPORT_SETTINGS,
    RUNS,
    SCHEMA_CHANGES,
    SLA_TARGETS,
    TABLES,
    TRACKED_CASES,
)
from .vendor_overflow import VendorColumnLimit


class ReportClient(Protocol):
    """What the source needs of a client: `KonnectNxtClient`, or reports from memory in tests."""

    counters: RequestCounters

    def fetch_report(self, case_id: str) -> FetchOutcome: ...

    def stop(self) -> None: ...


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def konnectnxt(
    due_cases: Sequence[TrackedCase],
    client: ReportClient,
    rules: PollingRules,
    stats: RunStats,
    workers: int,
    stored_checks: StoredChecks | None = None,
    vendor_columns: VendorColumnLimit | None = None,
    polling_state: list[dict[str, Any]] | None = None,
) -> Sequence[DltResource]:
    """Polls `due_cases` and emits their rows, one resource per table that holds case data.

    `stored_checks` (case_id -> its stored checks with their keys) is what the warehouse holds now: a
    check keeps the key of the stored check it is, and its history gets a row only when its status or
    result differs from that check's. `vendor_columns` decides which vendor keys become columns (all,
    without it). With `polling_state`, the `tracked_cases` rows go into that list instead, to be loaded
    once the report rows are in.
    """
    keep_values_as_sent()
    polled = polled_cases(due_cases, client, rules, stats, workers, stored_checks or {}, polling_state)
    tables = [table for table in TABLES.per_case if polling_state is None or table is not TRACKED_CASES]
    return [polled | dlt.transformer(table_rows, **table.resource_hints())(table, vendor_columns) for table in tables]


@dlt.resource(selected=False)
def polled_cases(
    due_cases: Sequence[TrackedCase],
    client: ReportClient,
    rules: PollingRules,
    stats: RunStats,
    workers: int,
    stored_checks: StoredChecks,
    polling_state: list[dict[str, Any]] | None = None,
) -> Iterator[list[PolledCase]]:
    """Fetches each due case once and turns the answers into rows and new bookkeeping, in batches."""
    by_id = {case.case_id: case for case in due_cases}
    stats.due = len(by_id)
    if stats.on_progress:
        stats.on_progress(0, stats.due)
    batch: list[PolledCase] = []
    # A wrong base_url answers 404 to everything: such a run's 404s count toward no case.
    every_404 = EveryAnswer404(EVERY_404_MIN_ANSWERS)
    try:
        outcomes = every_404.outcomes(
            reported_as_they_come(fetch_reports(client, list(by_id), workers), stats.due, stats.on_progress)
        )
        for outcome in outcomes:
            polled = poll_outcome(
                by_id[outcome.case_id], outcome, rules, stats.run_id, stored_checks.get(outcome.case_id)
            )
            stats.count(polled)
            if polling_state is not None:
                polling_state.extend(polled.rows.get(TRACKED_CASES.name, []))
            batch.append(polled)
            if len(batch) >= POLLED_BATCH_SIZE:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        stats.requests, stats.retries = client.counters.requests, client.counters.retries
        stats.every_answer_404 = every_404.dropped


def table_rows(batch: list[PolledCase], table: Table, vendor_columns: VendorColumnLimit | None = None) -> Iterator[Any]:
    """One table's rows of a batch of polled cases, vendor keys past the limit in `vendor_overflow`.

    In a snapshot table a fetched case whose new snapshot has no rows gets a tombstone: a hard-delete
    row that removes its old rows and is never inserted. No rows, no file: every table exists before
    a run loads anything (`warehouse_check.create_missing_tables`).
    """
    rows: list[dict[str, Any]] = []
    for polled in batch:
        case_rows = polled.rows.get(table.name, [])
        if table.snapshot and polled.applied and not case_rows:
            case_rows = [{"case_id": polled.case_id, TOMBSTONE_COLUMN: True}]
        rows.extend(case_rows)
    if rows:
        yield vendor_columns.place(table, rows) if vendor_columns else rows


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def rebuilt_reports(rebuilt: list[PolledCase], vendor_columns: VendorColumnLimit) -> Sequence[DltResource]:
    """The report tables re-derived from stored raw reports (--rebuild): no request, no history."""
    keep_values_as_sent()
    batches = dlt.resource([rebuilt], name="rebuilt_cases", selected=False)
    return [
        batches | dlt.transformer(table_rows, **table.resource_hints())(table, vendor_columns)
        for table in TABLES.from_report
    ]


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def case_registry(rows: list[dict[str, Any]]) -> DltResource:
    """Rows of `tracked_cases`: new ids before any request is sent, a run's polling state after its rows."""
    keep_values_as_sent()
    return dlt.resource([rows], **TRACKED_CASES.resource_hints())


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def run_record(row: dict[str, Any], sla_days: dict[str, float], report_timezone: str) -> Sequence[DltResource]:
    """One row of `runs` (what a run did, how it ended), and the settings the views read."""
    keep_values_as_sent()
    sla_targets = [{"check_type": check_type, "sla_days": days} for check_type, days in sla_days.items()]
    return [
        dlt.resource([row], **RUNS.resource_hints()),
        dlt.resource([sla_targets], **SLA_TARGETS.resource_hints()),
        dlt.resource([{"report_timezone": report_timezone}], **REPORT_SETTINGS.resource_hints()),
    ]


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def warehouse_tables(tables: Sequence[Table]) -> Sequence[DltResource]:
    """The given tables in the schema, with no rows and no resource: a new or incomplete warehouse gets
    every table at once (`create_missing_tables`); the package holds dlt's state, when it changed."""
    keep_values_as_sent()
    schema = dlt.current.source_schema()
    for table in tables:
        schema.update_table(declared_table(table))
    return []


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def forgotten_record(rows: list[dict[str, Any]]) -> DltResource:
    """Ids that were forgotten (--forget), with the time: nothing else of them is kept."""
    keep_values_as_sent()
    return dlt.resource([rows], **FORGOTTEN_CASES.resource_hints())


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def schema_change_record(rows: list[dict[str, Any]]) -> DltResource:
    """What a run added to the schema (`schema_changes.py`), loaded right after the run's data."""
    keep_values_as_sent()
    return dlt.resource([rows], **SCHEMA_CHANGES.resource_hints())
