"""What one fetch outcome means: the case's new bookkeeping, its rows by table, its history, the stats.

Pure and free of dlt: the source in `__init__.py` only moves what this module computes into tables.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo

from .check_identity import StoredCheck, report_fingerprint, with_stored_keys
from .client import FetchOutcome
from .pii import pii_fingerprint, protect_rows
from .report_shape import shape_error
from .schedule import TrackedCase, after_failure, after_report, after_stale_report, is_terminal
from .tables import CASE_STATUS_HISTORY, CHECK_STATUS_HISTORY, CHECKS, FETCH_ERRORS, RAW_REPORTS, TRACKED_CASES
from .transform import CaseTimes, ReportRows, Row, parse_generated_at, report_rows
from .vendor_values import Fold, identity, storable

# case_id -> the stored snapshot's checks with their keys (`check_identity.checks_from_rows`).
StoredChecks = dict[str, list[StoredCheck]]


@dataclass(frozen=True)
class PollingRules:
    """The settings that decide what a fetch outcome means."""

    poll_intervals: Sequence[float]
    min_poll_interval: float
    not_found_after: timedelta
    report_timezone: tzinfo
    pii: str = "keep"
    pii_salt: str | None = None
    # The column name the warehouse makes of a key (dlt's naming convention).
    fold: Fold = identity
    # Seconds after a case was first seen terminal when it is requested once more (schedule.due_cases).
    recheck_terminal_after: Sequence[float] = ()

    @property
    def pii_mode(self) -> str:
        """What the rows of this run are stored under (see `tracked_cases.pii_mode`)."""
        return pii_fingerprint(self.pii, self.pii_salt)


@dataclass
class PolledCase:
    """One case after its poll: its new bookkeeping and every row the poll adds, by table name."""

    tracked: TrackedCase
    rows: dict[str, list[Row]]
    previous: TrackedCase
    error: str | None = None
    unparsed_completed_at: int = 0
    # False for a case the run stopped before requesting: nothing happened to it.
    requested: bool = True
    # A report older than the stored one: ignored, only the poll is recorded.
    stale: bool = False
    # A report whose shape changed (report_shape.py): kept in raw_reports only, the case backs off.
    kept_out: bool = False

    @property
    def case_id(self) -> str:
        return self.tracked.case_id

    @property
    def fetched(self) -> bool:
        return self.error is None

    @property
    def applied(self) -> bool:
        """A report was applied: the case's snapshot in the report tables is replaced by this poll's rows."""
        return self.fetched and not self.stale


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
    # (case id, error) of each failed case: logged folded by kind (log_digest.py).
    failures: list[tuple[str, str]] = field(default_factory=list)
    status_changes: Counter = field(default_factory=Counter)
    rows: Counter = field(default_factory=Counter)
    marked_not_found: list[str] = field(default_factory=list)
    reported_at: dict[str, datetime] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    not_requested: int = 0
    stale: int = 0
    kept_out: int = 0
    # Terminal cases with a stored report that answered again (a re-check or --refresh-completed), and
    # those of them that are open again.
    rechecked: int = 0
    reopened: int = 0
    # Requests of a run that got nothing but 404s, none of which counted (see every_404.py).
    every_answer_404: int = 0
    on_progress: Callable[[int, int], None] | None = None

    def count(self, polled: PolledCase) -> None:
        """Add one polled case to the totals."""
        if not polled.requested:
            self.not_requested += 1
            return
        self.rows.update({table: len(rows) for table, rows in polled.rows.items()})
        before, after = polled.previous, polled.tracked
        if not polled.fetched:
            self.failed += 1
            self.kept_out += polled.kept_out
            if after.last_report_at != before.last_report_at:  # an answer kept out still returned a report
                self.reported_at[polled.case_id] = after.last_report_at
            self.failures.append((polled.case_id, polled.error))
            if after.not_found_at is not None:
                self.marked_not_found.append(polled.case_id)
            return
        self.fetched += 1
        self.reported_at[polled.case_id] = after.last_report_at
        was_terminal = is_terminal(before.last_status) and before.last_fetched_at is not None
        self.rechecked += was_terminal
        if polled.stale:
            self.stale += 1
            return
        self.changed += after.report_hash != before.report_hash
        self.newly_completed += is_terminal(after.last_status) and not is_terminal(before.last_status)
        self.reopened += was_terminal and not is_terminal(after.last_status)
        self.unparsed_completed_at += polled.unparsed_completed_at
        if before.last_status != after.last_status:
            self.status_changes[(before.last_status, after.last_status)] += 1


def poll_outcome(
    case: TrackedCase,
    outcome: FetchOutcome,
    rules: PollingRules,
    run_id: str,
    stored_checks: list[StoredCheck] | None = None,
) -> PolledCase:
    """The bookkeeping and rows of one fetch outcome; `stored_checks` are the case's checks stored now."""
    intervals = {"poll_intervals": rules.poll_intervals, "min_poll_interval": rules.min_poll_interval}
    if not outcome.ok and outcome.attempts == 0:
        return PolledCase(case, {}, previous=case, error=outcome.error, requested=False)
    if not outcome.ok:
        return _failed(case, outcome, rules, run_id)
    generated_at = parse_generated_at(outcome.data.get("generated_at"))
    if generated_at and case.last_generated_at and generated_at < case.last_generated_at:
        tracked = after_stale_report(case, polled_at=outcome.polled_at, **intervals)
        return PolledCase(tracked, {TRACKED_CASES.name: [tracked.row()]}, previous=case, stale=True)
    if shape_changed := shape_error(outcome.data):
        return _not_applied(case, outcome, shape_changed, rules, run_id, generated_at, kept_out=True)
    try:
        return _applied(case, outcome, rules, stored_checks or [], generated_at)
    except Exception as exc:  # noqa: BLE001 - a report that cannot become rows fails its own case only
        reason = f"report could not be stored: {type(exc).__name__}: {exc}"
        return _not_applied(case, outcome, reason, rules, run_id, generated_at)


def _not_applied(
    case: TrackedCase,
    outcome: FetchOutcome,
    reason: str,
    rules: PollingRules,
    run_id: str,
    generated_at: datetime | None,
    kept_out: bool = False,
) -> PolledCase:
    """A report that answered (HTTP 200) but is not applied: a failure of its case, its raw report kept."""
    kept = raw_report(outcome, generated_at, rules)
    polled = _failed(case, replace(outcome, http_status=200, error=reason), rules, run_id, kept)
    return replace(polled, kept_out=kept_out)


def _applied(
    case: TrackedCase,
    outcome: FetchOutcome,
    rules: PollingRules,
    stored_checks: list[StoredCheck],
    generated_at: datetime | None,
) -> PolledCase:
    """A report applied: new bookkeeping, every table's rows, history, the raw report."""
    status = outcome.data.get("status")
    tracked = after_report(
        case,
        polled_at=outcome.polled_at,
        status=status if isinstance(status, str) else None,
        result=outcome.data.get("result"),
        fingerprint=report_fingerprint(outcome.data),
        pii_mode=rules.pii_mode,
        generated_at=generated_at,
        poll_intervals=rules.poll_intervals,
        min_poll_interval=rules.min_poll_interval,
    )
    times = CaseTimes(
        tracked.first_seen_at, tracked.last_fetched_at, tracked.first_completed_at, tracked.last_completed_at
    )
    report = report_rows(
        case.case_id, outcome.data, times=times, report_timezone=rules.report_timezone, fold=rules.fold
    )
    protect_rows(report.tables, rules.pii, rules.pii_salt)
    with_stored_keys(report.tables, stored_checks)
    report.tables[RAW_REPORTS.name] = raw_report(outcome, generated_at, rules)
    history = status_history(case, report, stored_checks, outcome.polled_at)
    rows = {TRACKED_CASES.name: [tracked.row()], **history, **report.tables}
    return PolledCase(tracked, rows, previous=case, unparsed_completed_at=report.unparsed_completed_at)


def _failed(
    case: TrackedCase, outcome: FetchOutcome, rules: PollingRules, run_id: str, kept: list[Row] | None = None
) -> PolledCase:
    """A fetch that gave no usable report: the error recorded, the case backs off, its data untouched.

    `kept` is the raw report of an answer that could not be applied, so that --rebuild can apply it:
    the case answered, so a run of 404s ends, and `min_poll_interval` counts from it.
    """
    tracked = after_failure(
        case,
        polled_at=outcome.polled_at,
        error=outcome.error,
        http_status=outcome.http_status,
        not_found_after=rules.not_found_after,
        poll_intervals=rules.poll_intervals,
        min_poll_interval=rules.min_poll_interval,
    )
    if kept:
        tracked = replace(tracked, first_not_found_at=None, last_report_at=outcome.polled_at)
    fetch_error = {
        "case_id": outcome.case_id,
        "http_status": outcome.http_status,
        "error_message": outcome.error,
        "attempts": outcome.attempts,
        "failed_at": datetime.now(UTC),
        "run_id": run_id,
    }
    rows = {TRACKED_CASES.name: [tracked.row()], FETCH_ERRORS.name: [fetch_error]}
    if kept:
        rows[RAW_REPORTS.name] = kept
    return PolledCase(tracked, rows, previous=case, error=outcome.error)


def raw_report(outcome: FetchOutcome, generated_at: datetime | None, rules: PollingRules) -> list[Row]:
    """The `raw_reports` row: the report as the API sent it, under the run's PII mode.

    A report no JSON column holds (numbers beyond 64 bits, over-deep nesting) is kept as JSON text.
    """
    rows = {RAW_REPORTS.name: [{"case_id": outcome.case_id, "generated_at": generated_at, "report": outcome.data}]}
    protect_rows(rows, rules.pii, rules.pii_salt)
    row = rows[RAW_REPORTS.name][0]
    return [{**row, "fetched_at": outcome.polled_at, "report": storable(row["report"])}]


def status_history(
    case: TrackedCase, report: ReportRows, stored_checks: list[StoredCheck], observed_at: datetime
) -> dict[str, list[Row]]:
    """History rows for the case and each check whose status or result differs from what is stored."""
    stored = {key: (check.get("status"), check.get("result")) for key, check in stored_checks}
    generated_at = report.case.get("generated_at")
    generated_at = generated_at if isinstance(generated_at, datetime) else None
    case_rows = []
    status, result = report.case.get("status"), report.case.get("result")
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
        for check in report[CHECKS.name]
        if stored.get(check["check_key"]) != (check["status"], check["result"])
    ]
    return {CASE_STATUS_HISTORY.name: case_rows, CHECK_STATUS_HISTORY.name: check_rows}
