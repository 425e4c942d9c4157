"""One pipeline run: register ids, poll what is due, load it, and report what happened."""

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dlt
from dlt.pipeline.exceptions import PipelineStepFailed

from . import RunStats, case_registry, konnectnxt
from .case_ids import CaseIdBatch, add_config_ids, add_file_ids, add_flag_ids
from .config import load_configuration
from .errors import BgvError, DestinationError
from .fake_reports import demo_case_ids
from .redaction import register_secret
from .run_lock import run_lock
from .sandbox import DEMO_API_KEY, Sandbox
from .schedule import due_cases, new_registrations
from .settings import DATASET_NAME, DEMO_PIPELINE_NAME, PIPELINE_NAME
from .warehouse import (
    destination_label,
    earliest_added_at,
    finish_pending_packages,
    known_case_ids,
    lock_path,
    open_pipeline,
    read_tracked_cases,
    table_row_counts,
    tracked_case_counts,
)

logger = logging.getLogger("bgv")
LOADER_FILE_FORMAT = "parquet"
DEMO_SOURCE = "demo"


@dataclass
class RunRequest:
    """What the user asked of this run (the command line)."""

    case_ids: Sequence[str] = ()
    cases_files: Sequence[str] = ()
    all_open: bool = False
    refresh_completed: bool = False
    demo: bool = False

    @property
    def pipeline_name(self) -> str:
        return DEMO_PIPELINE_NAME if self.demo else PIPELINE_NAME


@dataclass
class RunReport:
    """What the run did, for the summary and the exit code."""

    pipeline_name: str
    destination: str
    stats: RunStats
    dataset: str = DATASET_NAME
    registered: int = 0
    tracked: int = 0
    tracked_open: int = 0
    input_problems: list[str] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.stats.failed or self.input_problems else 0


def run_pipeline(request: RunRequest, on_progress: Callable[[int, int], None] | None = None) -> RunReport:
    """Run once; expected failures raise BgvError subclasses carrying their exit code."""
    configuration = load_configuration(require_api_key=not request.demo)
    batch = CaseIdBatch()
    add_flag_ids(batch, request.case_ids)
    for path in request.cases_files:
        add_file_ids(batch, path)
    for problem in batch.problems:
        logger.warning("skipped %s", problem)
    with ExitStack() as cleanup:
        if request.demo:
            sandbox = cleanup.enter_context(Sandbox(api_key=DEMO_API_KEY))
            configuration.base_url, configuration.api_key = sandbox.base_url, DEMO_API_KEY
            for case_id in demo_case_ids():
                batch.add(case_id, DEMO_SOURCE)
        else:
            add_config_ids(batch, configuration.case_ids)
        register_secret(configuration.api_key)
        pipeline = open_pipeline(request.pipeline_name)
        cleanup.enter_context(run_lock(lock_path(pipeline)))
        report = RunReport(
            pipeline.pipeline_name,
            destination_label(pipeline),
            RunStats(run_id=uuid.uuid4().hex, on_progress=on_progress),
            input_problems=list(batch.problems),
        )
        note = finish_pending_packages(pipeline)
        if note:
            logger.warning("%s", note)
            report.notes.append(note)

        now = datetime.now(UTC)
        registrations = new_registrations(batch.sources, known_case_ids(pipeline), now)
        if registrations:
            logger.info("registering %d new case id(s)", len(registrations))
            _load(pipeline, case_registry([case.row() for case in registrations]))
        report.registered = len(registrations)

        tracked = read_tracked_cases(pipeline, include_terminal=request.refresh_completed)
        report.tracked, report.tracked_open = tracked_case_counts(pipeline)
        due = due_cases(
            tracked,
            now,
            min_poll_interval=configuration.min_poll_interval,
            all_open=request.all_open or request.demo,
            refresh_completed=request.refresh_completed,
        )
        if request.demo:
            sandbox.add_demo_cases(earliest_added_at(pipeline, DEMO_SOURCE).timestamp())
        if due:
            logger.info(
                "polling %d due case(s) of %d tracked (%d open) with %d workers",
                len(due),
                report.tracked,
                report.tracked_open,
                configuration.workers,
            )
            info = _load(pipeline, konnectnxt(due, configuration, report.stats))
            for failure in report.stats.failures:
                logger.warning("case %s", failure)
            logger.debug("load info: %s", info)
        report.table_rows = table_row_counts(pipeline)
        report.tracked_open = tracked_case_counts(pipeline)[1]
    return report


def _load(pipeline: dlt.Pipeline, data: object) -> object:
    try:
        return pipeline.run(data, loader_file_format=LOADER_FILE_FORMAT)
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


def _original_exception(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
