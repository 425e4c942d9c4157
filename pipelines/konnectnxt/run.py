"""One pipeline run as named steps: admit ids, register them, pick what is due, fetch and load, record the run."""

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from . import ReportClient, case_registry, konnectnxt
from .case_ids import DEMO_SOURCE, FLAG_SOURCE, CaseIdBatch, add_config_ids, add_file_ids, add_flag_ids
from .client import KonnectNxtClient
from .clock_skew import with_future_times_as_now
from .config import KonnectNxtConfiguration, load_configuration, warn_about_configuration
from .errors import (
    EXIT_INTERNAL_ERROR,
    ApiUnreachable,
    AuthenticationFailed,
    BgvError,
    CaseIdInputError,
    NoSpaceLeft,
    RunTimeLimit,
    WrongBaseUrl,
    describe,
    interrupted_exit_code,
    interruption,
    no_space_left,
)
from .forget import complete_interrupted_forget, forgotten_ids, unforget
from .log_digest import failure_lines, first_lines, forgotten_lines, not_found_line
from .politeness import ledger_path, recently_discarded_reports, remember_discarded_reports
from .polling import RunStats
from .polling_state import (
    earliest_added_at,
    known_case_ids,
    read_not_found_cases,
    read_tracked_cases,
    read_untracked_cases,
    store_tracked_cases,
    stored_checks,
    table_row_counts,
    tracked_case_counts,
)
from .run_deadline import RunDeadline
from .run_lock import run_lock
from .run_report import RunReport, record_run, record_run_when_possible
from .schedule import TrackedCase, due_cases, new_registrations, revived, tracked_again
from .schema_changes import record_schema_changes, summary_lines, vendor_column_limit
from .self_check import check_stored_reports
from .settings import DEMO_PIPELINE_NAME, PARALLEL_NORMALIZE_FROM, PIPELINE_NAME
from .views import apply_views
from .warehouse import Warehouse, lock_path, open_warehouse
from .warehouse_check import prepare_warehouse

logger = logging.getLogger("bgv")


@dataclass
class RunRequest:
    """What the user asked of this run (the command line)."""

    case_ids: Sequence[str] = ()
    cases_files: Sequence[str] = ()
    all_open: bool = False
    refresh_completed: bool = False
    demo: bool = False
    forget: Sequence[str] = ()
    retry_not_found: bool = False

    @property
    def pipeline_name(self) -> str:
        return DEMO_PIPELINE_NAME if self.demo else PIPELINE_NAME


def run_pipeline(request: RunRequest, on_progress: Callable[[int, int], None] | None = None) -> RunReport:
    """Run once; expected failures raise BgvError subclasses carrying their exit code."""
    configuration = load_configuration(require_api_key=not request.demo)
    complete_interrupted_forget(request.pipeline_name)
    report = RunReport(request.pipeline_name, RunStats(uuid.uuid4().hex, on_progress=on_progress), datetime.now(UTC))
    try:
        batch = admit_ids(request, configuration)
    except CaseIdInputError as exc:
        record_run_when_possible(report, configuration, exc.exit_code, str(exc))
        raise
    report.input_problems = list(batch.problems)
    warn_about_configuration(configuration)
    with ExitStack() as stack:
        if request.demo:
            from .demo import DemoApi  # the demo's sandbox stays off the production path

            endpoint = demo = stack.enter_context(DemoApi())
        else:
            endpoint, demo = configuration, None
        stack.enter_context(run_lock(lock_path(request.pipeline_name)))
        warehouse = stack.enter_context(open_warehouse(request.pipeline_name, configuration.lock_wait_seconds))
        report.destination, report.dataset = warehouse.label, warehouse.dataset
        client: KonnectNxtClient | None = None
        try:
            report.notes.extend(warehouse.notes + prepare_warehouse(warehouse))
            register(warehouse, batch, report, retry_not_found=request.retry_not_found)
            due = pick_due(warehouse, request, configuration, report)
            if demo:
                demo.start_cases(earliest_added_at(warehouse, DEMO_SOURCE))
            client = KonnectNxtClient.for_endpoint(endpoint.base_url, endpoint.api_key, configuration)
            fetch_and_load(warehouse, due, client, configuration, report)
            raise_when_the_api_was_not_answering(client)
            if report.stats.every_answer_404:
                raise WrongBaseUrl(f"every request answered 404: check base_url ({endpoint.base_url})")
        except BgvError as exc:
            if isinstance(exc, AuthenticationFailed) and report.stats.reported_at:
                remember_discarded_reports(ledger_path(request.pipeline_name), report.stats.reported_at)
            if isinstance(exc, RunTimeLimit) or (isinstance(exc, ApiUnreachable) and report.stats.fetched):
                # What was fetched is loaded: the views and the summary show it, beside the one line.
                report.views_failed = [failure.view for failure in apply_views(warehouse)]
                exc.report = report
            record_run(warehouse, report, configuration, exc.exit_code, str(exc))
            raise
        except BaseException as exc:
            stopped = interruption(exc)
            if stopped is None:
                if full := no_space_left(exc, fallback=warehouse.pipeline.working_dir):
                    record_run(warehouse, report, configuration, NoSpaceLeft.exit_code, str(NoSpaceLeft(full)))
                    raise NoSpaceLeft(full) from exc
                record_run(warehouse, report, configuration, EXIT_INTERNAL_ERROR, describe(exc))
                raise
            # The requests were made: the vendor's 15 s rule holds for them whatever got loaded.
            if client is not None and (sent := client.stop_sending()):
                remember_discarded_reports(ledger_path(request.pipeline_name), sent)
            record_run(warehouse, report, configuration, interrupted_exit_code(stopped), "interrupted")
            raise stopped from None
        report.views_failed = [failure.view for failure in apply_views(warehouse)]
        record_run(warehouse, report, configuration, report.exit_code, None)
    return report


def admit_ids(request: RunRequest, configuration: KonnectNxtConfiguration) -> CaseIdBatch:
    """The ids handed to this run by flag, file and config (or the demo's), deduplicated."""
    batch = CaseIdBatch()
    add_flag_ids(batch, request.case_ids)
    for path in request.cases_files:
        add_file_ids(batch, path)
    if request.demo:
        from .demo import demo_case_ids

        for case_id in demo_case_ids():
            batch.add(case_id, DEMO_SOURCE)
    else:
        add_config_ids(batch, configuration.case_ids)
    for line in first_lines(batch.problems):
        logger.warning("skipped %s", line)
    return batch


def register(warehouse: Warehouse, batch: CaseIdBatch, report: RunReport, retry_not_found: bool = False) -> None:
    """Store the ids new to the warehouse (and those named again with --case-id) before any request.

    A case marked not found is polled again when named with --case-id, or with every other one under
    --retry-not-found; an untracked one only when named with --case-id. Runs after pending data is
    loaded: a forget that pending data predates must not be undone by it.
    """
    forgotten = forgotten_ids(warehouse) & set(batch.sources)
    comeback_ids = [case_id for case_id in forgotten if batch.sources[case_id] == FLAG_SOURCE]
    skipped: dict[str, list[str]] = {}
    for case_id in sorted(forgotten - set(comeback_ids)):
        skipped.setdefault(batch.sources.pop(case_id), []).append(case_id)
    for line in forgotten_lines(skipped):
        report.note(line)
    if comeback_ids:
        unforget(warehouse, comeback_ids)
    registrations = new_registrations(batch.sources, known_case_ids(warehouse), datetime.now(UTC))
    named = {case_id for case_id, source in batch.sources.items() if source == FLAG_SOURCE}
    comebacks = {
        case.case_id: revived(case)
        for case in read_not_found_cases(warehouse)
        if retry_not_found or case.case_id in named
    }
    for case in read_untracked_cases(warehouse):
        if case.case_id in named:
            comebacks[case.case_id] = tracked_again(comebacks.get(case.case_id, case))
    if registrations or comebacks:
        logger.info("registering %d new case id(s), tracking %d again", len(registrations), len(comebacks))
        rows = [case.row() for case in registrations + list(comebacks.values())]
        store_tracked_cases(warehouse, rows)
    report.registered = len(registrations)
    report.revived = sorted(comebacks)


def pick_due(
    warehouse: Warehouse, request: RunRequest, configuration: KonnectNxtConfiguration, report: RunReport
) -> list[TrackedCase]:
    """The tracked cases to request now, longest-waiting first, never within min_poll_interval.

    First the warehouse checks itself: a case whose stored report is missing is due again.
    """
    now = datetime.now(UTC)
    pii_mode = configuration.polling_rules().pii_mode
    check = check_stored_reports(warehouse)
    if line := check.summary_line():
        logger.warning("%s", line)
        report.self_check = line
    tracked = read_tracked_cases(
        warehouse,
        include_terminal=request.refresh_completed,
        pii_mode=pii_mode,
        recheck_terminal_after=configuration.recheck_terminal_after,
        now=now,
        also=check.without_stored_report,
    )
    discarded = recently_discarded_reports(ledger_path(request.pipeline_name), now, configuration.min_poll_interval)
    tracked = [
        replace(case, last_report_at=max(filter(None, [case.reported_at, discarded[case.case_id]])))
        if case.case_id in discarded
        else case
        for case in tracked
    ]
    tracked, corrected = with_future_times_as_now(tracked, now, max(configuration.poll_intervals))
    if corrected:
        report.note(
            f"{len(corrected)} case(s) had poll times in the future (the clock was ahead when they were "
            "written); taken as now"
        )
        store_tracked_cases(warehouse, [case.row() for case in corrected])
    report.tracked = tracked_case_counts(warehouse)
    return due_cases(
        [check.restored(case) for case in tracked],
        now,
        min_poll_interval=configuration.min_poll_interval,
        all_open=request.all_open or request.demo,
        refresh_completed=request.refresh_completed,
        pii_mode=pii_mode,
        recheck_terminal_after=configuration.recheck_terminal_after,
        without_stored_report=check.without_stored_report,
    )


def fetch_and_load(
    warehouse: Warehouse,
    due: list[TrackedCase],
    client: ReportClient,
    configuration: KonnectNxtConfiguration,
    report: RunReport,
) -> None:
    """Request every due case and load its rows, then its new polling state once the rows are in."""
    out_of_time = False
    if due:
        logger.info(
            "polling %d due case(s) of %d tracked (%d open) with %d workers",
            len(due),
            report.tracked["tracked"],
            report.tracked["open"],
            configuration.workers,
        )
        stored = stored_checks(warehouse, [case.case_id for case in due])
        rules = configuration.polling_rules(fold=warehouse.column_name)
        vendor_columns = vendor_column_limit(warehouse, configuration.max_vendor_columns)
        polling_state: list[dict] = []
        source = konnectnxt(
            due, client, rules, report.stats, configuration.workers, stored, vendor_columns, polling_state
        )
        deadline = RunDeadline(client, report.started_at, configuration.max_run_seconds)

        def polling_state_of_the_fetched() -> object:
            deadline.cancel()  # the fetching is over: normalizing and loading are never cut short
            return case_registry(polling_state) if polling_state else None

        try:
            load_info = warehouse.load(
                source, normalize_workers=normalize_workers_for(len(due)), then=polling_state_of_the_fetched
            )
        finally:
            deadline.cancel()
        changes = record_schema_changes(warehouse, load_info, report.stats.run_id)
        report.schema_lines = vendor_columns.summary_lines() + summary_lines(changes)
        for line in failure_lines(report.stats.failures):
            logger.warning("%s", line)
        if report.stats.marked_not_found:
            logger.warning("%s", not_found_line(report.stats.marked_not_found, configuration.not_found_after_hours))
        out_of_time = deadline.reached.is_set()
    report.table_rows = table_row_counts(warehouse)
    if out_of_time:
        raise RunTimeLimit(
            f"max_run_seconds = {configuration.max_run_seconds:g} reached: stopped requesting with "
            f"{report.stats.not_requested} due case(s) not requested; what was fetched is loaded, "
            "the next run polls the rest"
        )


def raise_when_the_api_was_not_answering(client: KonnectNxtClient) -> None:
    """After loading what came: no answer at all, or answers that stopped, end the run with exit 2."""
    if client.unreachable:
        raise ApiUnreachable(f"cannot reach {client.unreachable}")
    if client.stopped_answering:
        raise ApiUnreachable(f"the API stopped answering: {client.stopped_answering}")


def normalize_workers_for(case_count: int) -> int:
    return 2 if case_count >= PARALLEL_NORMALIZE_FROM else 1
