"""One pipeline run: register ids, poll what is due, load it, record the run, report what happened."""

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

from . import RunStats, case_registry, forgotten_record, konnectnxt, run_record
from .case_ids import CaseIdBatch, add_config_ids, add_file_ids, add_flag_ids, canonical_case_id
from .config import KonnectNxtConfiguration, load_configuration
from .errors import (
    EXIT_INTERNAL_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    AuthenticationFailed,
    BgvError,
    CaseIdInputError,
    DestinationError,
)
from .fake_reports import demo_case_ids
from .forget import copy_to_fresh_file, delete_case_rows, forgotten_ids, forgotten_rows, purge_loaded_packages, unforget
from .pii import pii_fingerprint
from .politeness import ledger_path, recently_discarded_reports, remember_discarded_reports
from .redaction import redact
from .run_lock import run_lock
from .sandbox import DEMO_API_KEY, Sandbox
from .schedule import due_cases, new_registrations, revived
from .settings import DATASET_NAME, DEMO_PIPELINE_NAME, PARALLEL_NORMALIZE_FROM, PIPELINE_NAME
from .warehouse import (
    apply_views,
    check_statuses,
    destination_label,
    duckdb_path,
    earliest_added_at,
    finish_pending_packages,
    is_duckdb,
    known_case_ids,
    lock_path,
    opened_pipeline,
    read_not_found_cases,
    read_tracked_cases,
    table_row_counts,
    tracked_case_counts,
)

logger = logging.getLogger("bgv")
LOADER_FILE_FORMAT = "parquet"
DEMO_SOURCE = "demo"
FLAG_SOURCE = "--case-id"


@dataclass
class RunRequest:
    """What the user asked of this run (the command line)."""

    case_ids: Sequence[str] = ()
    cases_files: Sequence[str] = ()
    all_open: bool = False
    refresh_completed: bool = False
    demo: bool = False
    forget: Sequence[str] = ()

    @property
    def pipeline_name(self) -> str:
        return DEMO_PIPELINE_NAME if self.demo else PIPELINE_NAME


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

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if self.stats.failed or self.input_problems else EXIT_OK


@dataclass
class ForgetReport:
    """What --forget removed."""

    pipeline_name: str
    destination: str
    removed: dict[str, dict[str, int]]
    packages_purged: int


def forget_cases(request: RunRequest) -> ForgetReport:
    """Delete the named cases from every table and the working dir; keep only their ids and the time."""
    configuration = load_configuration(require_api_key=False)
    case_ids = []
    for value in request.forget:
        try:
            case_ids.append(canonical_case_id(value))
        except ValueError as exc:
            raise CaseIdInputError(f"--forget: {exc}") from None
    case_ids = list(dict.fromkeys(case_ids))
    with run_lock(lock_path(request.pipeline_name)):
        with opened_pipeline(request.pipeline_name, configuration.lock_wait_seconds) as pipeline:
            note = finish_pending_packages(pipeline)
            if note:
                logger.warning("%s", note)
            removed = delete_case_rows(pipeline, case_ids)
            _load(pipeline, forgotten_record(forgotten_rows(case_ids, datetime.now(UTC))), log_level=logging.DEBUG)
            purged = purge_loaded_packages(pipeline)
            destination = destination_label(pipeline)
            fresh_copy = copy_to_fresh_file(pipeline, destination) if is_duckdb(pipeline) else None
        if fresh_copy:
            os.replace(fresh_copy, destination)
        return ForgetReport(request.pipeline_name, destination, removed, purged)


def run_pipeline(request: RunRequest, on_progress: Callable[[int, int], None] | None = None) -> RunReport:
    """Run once; expected failures raise BgvError subclasses carrying their exit code."""
    configuration = load_configuration(require_api_key=not request.demo)
    report = RunReport(
        request.pipeline_name, RunStats(run_id=uuid.uuid4().hex, on_progress=on_progress), datetime.now(UTC)
    )
    try:
        batch = _collect_case_ids(request, configuration)
    except CaseIdInputError as exc:
        _record_run_when_possible(report, configuration, exc.exit_code, str(exc))
        raise
    with ExitStack() as cleanup:
        sandbox = cleanup.enter_context(Sandbox(api_key=DEMO_API_KEY)) if request.demo else None
        if sandbox:
            configuration.base_url, configuration.api_key = sandbox.base_url, DEMO_API_KEY
        cleanup.enter_context(run_lock(lock_path(request.pipeline_name)))
        pipeline = cleanup.enter_context(opened_pipeline(request.pipeline_name, configuration.lock_wait_seconds))
        report.destination = destination_label(pipeline)
        try:
            _poll_and_load(pipeline, request, configuration, batch, report, sandbox)
        except BgvError as exc:
            if isinstance(exc, AuthenticationFailed) and report.stats.reported_at:
                remember_discarded_reports(ledger_path(request.pipeline_name), report.stats.reported_at)
            _record_run(pipeline, report, configuration, exc.exit_code, str(exc))
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {_first_line(exc)}"
            _record_run(pipeline, report, configuration, EXIT_INTERNAL_ERROR, error)
            raise
        _record_run(pipeline, report, configuration, report.exit_code, None)
        apply_views(pipeline)
    return report


def _collect_case_ids(request: RunRequest, configuration: KonnectNxtConfiguration) -> CaseIdBatch:
    batch = CaseIdBatch()
    add_flag_ids(batch, request.case_ids)
    for path in request.cases_files:
        add_file_ids(batch, path)
    if request.demo:
        for case_id in demo_case_ids():
            batch.add(case_id, DEMO_SOURCE)
    else:
        add_config_ids(batch, configuration.case_ids)
    for problem in batch.problems:
        logger.warning("skipped %s", problem)
    return batch


def _poll_and_load(
    pipeline: dlt.Pipeline,
    request: RunRequest,
    configuration: KonnectNxtConfiguration,
    batch: CaseIdBatch,
    report: RunReport,
    sandbox: Sandbox | None,
) -> None:
    report.input_problems = list(batch.problems)
    forgotten = forgotten_ids(pipeline) & set(batch.sources)
    comeback_ids = [case_id for case_id in forgotten if batch.sources[case_id] == FLAG_SOURCE]
    for case_id in sorted(forgotten - set(comeback_ids)):
        note = f"skipped forgotten case {case_id} from {batch.sources.pop(case_id)}: only --case-id tracks it again"
        logger.warning("%s", note)
        report.notes.append(note)
    if comeback_ids:
        unforget(pipeline, comeback_ids)
    note = finish_pending_packages(pipeline)
    if note:
        logger.warning("%s", note)
        report.notes.append(note)

    now = datetime.now(UTC)
    registrations = new_registrations(batch.sources, known_case_ids(pipeline), now)
    comebacks = [
        revived(case) for case in read_not_found_cases(pipeline) if batch.sources.get(case.case_id) == FLAG_SOURCE
    ]
    if registrations or comebacks:
        logger.info("registering %d new case id(s), tracking %d again", len(registrations), len(comebacks))
        _load(pipeline, case_registry([case.row() for case in registrations + comebacks]), log_level=logging.DEBUG)
    report.registered = len(registrations)
    report.revived = [case.case_id for case in comebacks]

    pii_mode = pii_fingerprint(configuration.pii, configuration.pii_salt)
    tracked = read_tracked_cases(pipeline, include_terminal=request.refresh_completed, pii_mode=pii_mode)
    discarded = recently_discarded_reports(ledger_path(request.pipeline_name), now, configuration.min_poll_interval)
    tracked = [
        replace(case, last_fetched_at=max(filter(None, [case.last_fetched_at, discarded[case.case_id]])))
        if case.case_id in discarded
        else case
        for case in tracked
    ]
    report.tracked = tracked_case_counts(pipeline)
    due = due_cases(
        tracked,
        now,
        min_poll_interval=configuration.min_poll_interval,
        all_open=request.all_open or request.demo,
        refresh_completed=request.refresh_completed,
        pii_mode=pii_mode,
    )
    if sandbox:
        sandbox.add_demo_cases(earliest_added_at(pipeline, DEMO_SOURCE).timestamp())
    if due:
        logger.info(
            "polling %d due case(s) of %d tracked (%d open) with %d workers",
            len(due),
            report.tracked["tracked"],
            report.tracked["open"],
            configuration.workers,
        )
        stored_checks = check_statuses(pipeline, [case.case_id for case in due])
        _load(pipeline, konnectnxt(due, configuration, report.stats, stored_checks), normalize_workers_for(len(due)))
        for failure in report.stats.failures:
            logger.warning("case %s", failure)
        for case_id in report.stats.marked_not_found:
            logger.warning(
                "case %s marked not found after %g h of 404s; no longer polled (--case-id %s tracks it again)",
                case_id,
                configuration.not_found_after_hours,
                case_id,
            )
    report.table_rows = table_row_counts(pipeline)
    report.tracked = tracked_case_counts(pipeline)


def normalize_workers_for(case_count: int) -> int:
    return 2 if case_count >= PARALLEL_NORMALIZE_FROM else 1


def _load(pipeline: dlt.Pipeline, data: object, normalize_workers: int = 1, log_level: int = logging.INFO) -> None:
    """Extract, normalize and load as separate logged steps; map failures to what the user can do."""
    try:
        pipeline.extract(data, loader_file_format=LOADER_FILE_FORMAT)
        logger.log(log_level, "normalizing")
        pipeline.normalize(workers=normalize_workers)
        logger.log(log_level, "loading into %s (dataset %s)", destination_label(pipeline), DATASET_NAME)
        pipeline.load()
    except PipelineStepFailed as exc:
        cause = _original_exception(exc)
        if isinstance(cause, BgvError):
            raise cause from None
        if exc.step == "load":
            raise DestinationError(
                f"loading into {destination_label(pipeline)} failed: {_first_line(cause)}; "
                "the data stays pending and the next run loads it first"
            ) from exc
        raise


def _record_run(
    pipeline: dlt.Pipeline,
    report: RunReport,
    configuration: KonnectNxtConfiguration,
    exit_code: int,
    error: str | None,
) -> None:
    """Append the run to `runs` and refresh the views' settings tables.

    Best effort, as its own load package: it never changes the run's exit code.
    """
    stats = report.stats
    row = {
        "run_id": stats.run_id,
        "pipeline_name": report.pipeline_name,
        "started_at": report.started_at,
        "finished_at": datetime.now(UTC),
        "cases_tracked": report.tracked.get("tracked"),
        "cases_registered": report.registered,
        "cases_due": stats.due,
        "cases_fetched": stats.fetched,
        "cases_changed": stats.changed,
        "cases_completed": stats.newly_completed,
        "cases_failed": stats.failed,
        "cases_marked_not_found": len(stats.marked_not_found),
        "requests": stats.requests,
        "retries": stats.retries,
        "exit_code": exit_code,
        "error": redact(error) if error else None,
        "pipeline_version": pipeline_version(),
    }
    if pipeline.has_pending_data:
        logger.debug("runs row not written: the destination still has pending data")
        return
    try:
        record = run_record(row, configuration.sla_days, configuration.report_timezone)
        pipeline.extract(record, loader_file_format=LOADER_FILE_FORMAT)
        pipeline.normalize()
        pipeline.load()
    except Exception:  # the run's outcome matters more than its record
        logger.debug("writing the runs row failed", exc_info=True)


def _record_run_when_possible(
    report: RunReport, configuration: KonnectNxtConfiguration, exit_code: int, error: str
) -> None:
    """Record a run that failed before opening the warehouse, if one exists and is free right now."""
    try:
        if not os.path.exists(duckdb_path(report.pipeline_name)):
            return
        with run_lock(lock_path(report.pipeline_name)), opened_pipeline(report.pipeline_name, 0) as pipeline:
            report.destination = destination_label(pipeline)
            _record_run(pipeline, report, configuration, exit_code, error)
    except BgvError:
        logger.debug("runs row not written: the warehouse is busy or unusable")


def pipeline_version() -> str:
    try:
        return version("bgv-warehouse")
    except PackageNotFoundError:
        return "unknown"


def _original_exception(exc: BaseException) -> BaseException:
    """The first of our own errors in the chain dlt wrapped around it, else the innermost exception."""
    seen = set()
    while id(exc) not in seen and not isinstance(exc, BgvError):
        seen.add(id(exc))
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
