"""--rebuild: the report tables re-derived from `raw_reports`, without a single API request.

After an upgrade that adds a column or learns a new report shape, completed cases get it without
re-polling thousands of cases the vendor rate-limits. History and polling state are kept as they are.

`raw_reports` holds each case's newest report, applied or kept out (its shape changed). The newest
report that passes the shape rule of this version (`report_shape.py`) is the case's snapshot: a raw
report that passes is applied, one kept out before included; one that still does not pass leaves the
case's report tables as they are (the last report that passed) and is counted. Each check keeps the
key it is stored under (`check_identity.py`), as in a run.
"""

import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field

from . import rebuilt_reports
from .check_identity import StoredCheck, with_stored_keys
from .config import load_configuration
from .polling import PolledCase
from .polling_state import stored_checks
from .report_shape import shape_error
from .run_lock import run_lock
from .schedule import TrackedCase
from .schema_changes import record_schema_changes, summary_lines, vendor_column_limit
from .tables import RAW_REPORTS, TABLES
from .transform import CaseTimes, report_rows
from .warehouse import Warehouse, lock_path, open_warehouse
from .warehouse_check import prepare_warehouse

logger = logging.getLogger("bgv")


@dataclass
class RebuildReport:
    """What --rebuild did."""

    pipeline_name: str
    destination: str
    cases: int = 0
    rows: Counter = field(default_factory=Counter)
    without_raw_report: int = 0
    # Raw reports this version still cannot apply (their shape changed): those cases were left as they are.
    kept_out: int = 0
    schema_lines: list[str] = field(default_factory=list)


def rebuild(pipeline_name: str) -> RebuildReport:
    """Re-derive cases, checks, entries, fields and documents from every stored raw report."""
    configuration = load_configuration(require_api_key=False)
    with (
        run_lock(lock_path(pipeline_name)),
        open_warehouse(pipeline_name, configuration.lock_wait_seconds) as warehouse,
    ):
        prepare_warehouse(warehouse)
        report = RebuildReport(pipeline_name, warehouse.label)
        raw = stored_raw_reports(warehouse)
        stored = stored_checks(warehouse, [row[0] for row in raw])
        rebuilt = []
        for row in raw:
            case = rebuilt_case(warehouse, row, configuration.timezone, stored.get(row[0], []))
            if case is None:
                report.kept_out += 1
            else:
                rebuilt.append(case)
        if rebuilt:
            logger.info("rebuilding %d case(s) from %s", len(rebuilt), RAW_REPORTS.name)
            vendor_columns = vendor_column_limit(warehouse, configuration.max_vendor_columns)
            load_info = warehouse.load(rebuilt_reports(rebuilt, vendor_columns))
            # Recorded under a run id of its own: a rebuild is no run of `runs`.
            run_id = f"rebuild-{uuid.uuid4().hex}"
            changes = record_schema_changes(warehouse, load_info, run_id)
            report.schema_lines = vendor_columns.summary_lines() + summary_lines(changes)
        report.cases = len(rebuilt)
        for polled in rebuilt:
            report.rows.update({table: len(rows) for table, rows in polled.rows.items()})
        tracked = warehouse.query("select count(*) from {tracked_cases} where report_hash is not null")
        report.without_raw_report = max((tracked[0][0] if tracked else 0) - len(raw), 0)
        return report


def stored_raw_reports(warehouse: Warehouse) -> list[tuple]:
    """(case_id, report, fetched_at, first_seen_at, last_fetched_at, first_completed_at, last_completed_at)."""
    columns = warehouse.existing_columns(RAW_REPORTS.name)
    report = "coalesce(r.report, r.report__v_text)" if "report__v_text" in columns else "r.report"
    return warehouse.query(
        f"select r.case_id, {report}, r.fetched_at, c.first_seen_at, c.last_fetched_at, c.first_completed_at, "
        "c.last_completed_at from {raw_reports} r left join {cases} c on c.case_id = r.case_id order by r.case_id"
    )


def rebuilt_case(warehouse: Warehouse, row: tuple, timezone, previous: list[StoredCheck]) -> PolledCase | None:
    """One case's report tables from its raw report, stored as it was (already under the PII mode).

    None when the report does not pass the shape rule: the case keeps what is stored.
    """
    case_id, report, fetched_at, first_seen_at, last_fetched_at, first_completed_at, last_completed_at = row
    data = json.loads(report) if isinstance(report, str) else report
    if shape_error(data):
        return None
    times = CaseTimes(first_seen_at or fetched_at, last_fetched_at or fetched_at, first_completed_at, last_completed_at)
    rows = report_rows(case_id, data, times=times, report_timezone=timezone, fold=warehouse.column_name)
    with_stored_keys(rows.tables, previous)
    tracked = TrackedCase(case_id, "", fetched_at)
    return PolledCase(tracked, {name: rows[name] for name in (t.name for t in TABLES.from_report)}, previous=tracked)
