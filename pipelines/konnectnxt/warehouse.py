"""The warehouse side of a run: which pipeline and file, polling state, pending packages, counts."""

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.runtime import run_context
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from .errors import ConfigurationError, DestinationError
from .schedule import FROM_CASES, TRACKED_CASE_COLUMNS, TrackedCase
from .settings import (
    CASE_STATUS_HISTORY,
    CASES,
    CHECK_STATUS_HISTORY,
    DATASET_NAME,
    DEMO_DUCKDB_FILE,
    DEMO_PIPELINE_NAME,
    DUCKDB_FILE,
    FETCH_ERRORS,
    REPORT_TABLES,
    TERMINAL_STATUSES,
    TRACKED_CASES,
)

logger = logging.getLogger("bgv")
_OPEN = "(t.last_status is null or t.last_status not in ({}))".format(
    ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))
)


def project_dir() -> str:
    """Where `.dlt/` lives and relative DuckDB paths start: DLT_PROJECT_DIR, set to the repo root."""
    return run_context.active().run_dir


def duckdb_path(pipeline_name: str) -> str:
    """The DuckDB file: `[destination.duckdb] credentials`, relative to the project dir; demo is fixed."""
    if pipeline_name == DEMO_PIPELINE_NAME:
        configured: Any = DEMO_DUCKDB_FILE
    else:
        configured = dlt.config.get("destination.duckdb.credentials") or DUCKDB_FILE
    if isinstance(configured, dict) or hasattr(configured, "get"):
        configured = configured.get("database") or DUCKDB_FILE
    path = str(configured).removeprefix("duckdb:///")
    if path == ":memory:" or path.startswith(("md:", "motherduck:")):
        raise ConfigurationError(
            f"[destination.duckdb] credentials is {path!r}: expected a file path such as bgv.duckdb"
        )
    return os.path.abspath(os.path.join(project_dir(), os.path.expanduser(path)))


@contextmanager
def opened_pipeline(pipeline_name: str, lock_wait_seconds: float) -> Iterator[dlt.Pipeline]:
    """The pipeline on its configured destination, for the duration of one run.

    DuckDB (the default) gets a project-relative file, opened once and held until the run ends: a
    reader that holds the file is waited for, and none can slip in between the run's steps.
    """
    try:
        pipeline = dlt.pipeline(pipeline_name=pipeline_name, dataset_name=DATASET_NAME)
    except ConfigurationException as exc:
        raise ConfigurationError(f"pipeline configuration: {exc}") from None
    if not is_duckdb(pipeline):
        yield pipeline
        return
    connection = _connect_duckdb(duckdb_path(pipeline_name), lock_wait_seconds)
    try:
        destination = dlt.destinations.duckdb(credentials=connection)
        yield dlt.pipeline(pipeline_name=pipeline_name, dataset_name=DATASET_NAME, destination=destination)
    finally:
        connection.close()


def is_duckdb(pipeline: dlt.Pipeline) -> bool:
    destination = pipeline.destination
    return (
        pipeline.pipeline_name == DEMO_PIPELINE_NAME
        or destination is None
        or destination.destination_type.endswith(".duckdb")
    )


def _connect_duckdb(path: str, lock_wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_wait_seconds
    waiting = False
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.Error as exc:
            message = str(exc)
            if "lock" not in message.lower():
                raise DestinationError(f"cannot open the DuckDB file {path}: {message.splitlines()[0]}") from None
            holder = _lock_holder(message)
            if time.monotonic() >= deadline:
                raise DestinationError(
                    f"the DuckDB file {path} is busy: {holder} has it open, and it stayed open for "
                    f"{lock_wait_seconds:g} s (lock_wait_seconds); close that connection (notebooks: connect "
                    "with read_only=True and close when done) and run again"
                ) from None
            if not waiting:
                logger.warning("the DuckDB file %s is busy (%s); waiting up to %g s", path, holder, lock_wait_seconds)
                waiting = True
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0.01)))


def _lock_holder(message: str) -> str:
    match = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", message)
    return f"process {match.group(2)} ({match.group(1)})" if match else "another process"


def destination_label(pipeline: dlt.Pipeline) -> str:
    """The file (DuckDB) or destination name to show the user."""
    if is_duckdb(pipeline):
        return duckdb_path(pipeline.pipeline_name)
    return pipeline.destination.destination_name


def lock_path(pipeline_name: str) -> str:
    # Beside the working dir, not in it: dlt wipes a working dir it (re)creates.
    return os.path.join(get_dlt_pipelines_dir(), f"{pipeline_name}.lock")


def finish_pending_packages(pipeline: dlt.Pipeline) -> str | None:
    """Load what an interrupted run left, or discard it; returns what was done, for the log."""
    if not pipeline.has_pending_data:
        return None
    try:
        pipeline.run()
        return "loaded the data a previous run left pending"
    except Exception as exc:
        logger.debug("finishing pending packages failed", exc_info=True)
        reason = _root_message(exc)
    try:
        pipeline.abort_packages()
    except Exception:
        logger.debug("aborting pending packages failed", exc_info=True)
    if pipeline.has_pending_data:
        raise DestinationError(f"cannot load or discard the data a previous run left pending: {reason}")
    return f"discarded the data a previous run left pending, which could not be loaded ({reason}); its cases will be polled again"


VIEWS_DIR = Path(__file__).parent / "views"


def apply_views(pipeline: dlt.Pipeline) -> None:
    """(Re)create the analytics views from the SQL files in `views/`; a failure is logged, not fatal."""
    for sql_file in sorted(VIEWS_DIR.glob("*.sql")):
        try:
            with pipeline.sql_client() as client:
                client.execute_sql(sql_file.read_text(encoding="utf-8"))
        except Exception as exc:  # noqa: BLE001 - the data is loaded; a missing view must not fail the run
            logger.warning("view %s not created: %s", sql_file.stem, _root_message(exc))


def known_case_ids(pipeline: dlt.Pipeline) -> set[str]:
    rows = _query(pipeline, "select case_id from {tracked_cases}")
    return {row[0] for row in rows}


def read_tracked_cases(pipeline: dlt.Pipeline, include_terminal: bool, pii_mode: str = "keep") -> list[TrackedCase]:
    """Pollable tracked cases (not marked not found) with what scheduling needs from `cases`.

    Terminal cases come only when asked for, or when their rows were stored under another PII mode.
    """
    tracked_columns = _existing_columns(pipeline, TRACKED_CASES)
    if include_terminal:
        return _tracked_cases_where(pipeline, "t.not_found_at is null", tracked_columns)
    stored_mode = "coalesce(t.pii_mode, 'keep')" if "pii_mode" in tracked_columns else "'keep'"
    quoted = pii_mode.replace("'", "''")
    where = f"t.not_found_at is null and ({_OPEN} or {stored_mode} <> '{quoted}')"
    return _tracked_cases_where(pipeline, where, tracked_columns)


def read_not_found_cases(pipeline: dlt.Pipeline) -> list[TrackedCase]:
    return _tracked_cases_where(pipeline, "t.not_found_at is not null")


def _tracked_cases_where(pipeline: dlt.Pipeline, where: str, existing: set[str] | None = None) -> list[TrackedCase]:
    existing = existing if existing is not None else _existing_columns(pipeline, TRACKED_CASES)
    tracked_columns = ", ".join(f"t.{name}" if name in existing else "null" for name in TRACKED_CASE_COLUMNS)
    existing = _existing_columns(pipeline, CASES)
    from_cases = ", ".join(f"c.{column}" if column in existing else "null" for column in FROM_CASES.values())
    joined = (
        f"select {tracked_columns}, {from_cases} "
        f"from {{tracked_cases}} t left join {{cases}} c on c.case_id = t.case_id where {where}"
    )
    try:
        rows = _query(pipeline, joined, missing_ok=False)
    except DatabaseUndefinedRelation:
        only_tracked = f"select {tracked_columns} from {{tracked_cases}} t where {where}"
        rows = [(*row, *[None] * len(FROM_CASES)) for row in _query(pipeline, only_tracked)]
    return [TrackedCase(*row) for row in rows]


def _existing_columns(pipeline: dlt.Pipeline, table: str) -> set[str]:
    """Columns the table has now: an older warehouse lacks the columns later versions added."""
    rows = _query(
        pipeline,
        "select column_name from information_schema.columns "
        f"where table_schema = '{pipeline.dataset_name}' and table_name = '{table}'",
    )
    return {row[0] for row in rows}


def check_statuses(pipeline: dlt.Pipeline, case_ids: list[str]) -> dict[str, dict[str, tuple]]:
    """case_id -> check_key -> (status, result) of the stored snapshot, for status history."""
    statuses: dict[str, dict[str, tuple]] = {}
    for start in range(0, len(case_ids), 1000):
        # Ids are validated 32-hex strings, safe to inline.
        listed = ", ".join(f"'{case_id}'" for case_id in case_ids[start : start + 1000])
        rows = _query(
            pipeline, f"select case_id, check_key, status, result from {{checks}} where case_id in ({listed})"
        )
        for case_id, check_key, status, result in rows:
            statuses.setdefault(case_id, {})[check_key] = (status, result)
    return statuses


def tracked_case_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    """How many cases are tracked, open (pollable) and marked not found."""
    rows = _query(
        pipeline,
        f"select count(*), count(*) filter (where t.not_found_at is null and {_OPEN}), "
        "count(*) filter (where t.not_found_at is not null) from {tracked_cases} t",
    )
    total, open_cases, not_found = rows[0] if rows else (0, 0, 0)
    return {"tracked": total, "open": open_cases, "not_found": not_found}


def earliest_added_at(pipeline: dlt.Pipeline, source: str) -> datetime | None:
    quoted = source.replace("'", "''")
    rows = _query(pipeline, f"select min(added_at) from {{tracked_cases}} where source = '{quoted}'")
    return rows[0][0] if rows else None


def table_row_counts(pipeline: dlt.Pipeline) -> dict[str, int]:
    counts = {}
    for table in (TRACKED_CASES, *REPORT_TABLES, CASE_STATUS_HISTORY, CHECK_STATUS_HISTORY, FETCH_ERRORS):
        rows = _query(pipeline, f"select count(*) from {{{table}}}")
        counts[table] = rows[0][0] if rows else 0
    return counts


def _query(pipeline: dlt.Pipeline, sql: str, missing_ok: bool = True) -> list[tuple]:
    """Run `sql` with `{table}` placeholders qualified; a table that does not exist yet gives []."""
    try:
        with pipeline.sql_client() as client:
            names = {table: client.make_qualified_table_name(table) for table in _TABLE_NAMES}
            return list(client.execute_sql(sql.format(**names)) or [])
    except DatabaseUndefinedRelation:
        if missing_ok:
            return []
        raise
    except Exception as exc:
        raise DestinationError(
            f"cannot read the warehouse at {destination_label(pipeline)}: {_root_message(exc)}"
        ) from exc


_TABLE_NAMES = (TRACKED_CASES, *REPORT_TABLES, CASE_STATUS_HISTORY, CHECK_STATUS_HISTORY, FETCH_ERRORS)


def _root_message(exc: BaseException) -> str:
    while exc.__cause__ is not None or getattr(exc, "exception", None) is not None:
        exc = getattr(exc, "exception", None) or exc.__cause__
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
