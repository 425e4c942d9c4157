"""The warehouse of one run: the dlt pipeline on its destination, one SQL connection, loads, pending data."""

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.runtime import run_context
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.pipeline.exceptions import PipelineStepFailed

from .errors import BgvError, ConfigurationError, DestinationError, cause_line, root_cause
from .settings import DATASET_NAME, DEMO_DUCKDB_FILE, DEMO_PIPELINE_NAME, DUCKDB_FILE, LOADER_FILE_FORMAT
from .tables import TABLES

logger = logging.getLogger("bgv")


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


def lock_path(pipeline_name: str) -> str:
    # Beside the working dir, not in it: dlt wipes a working dir it (re)creates.
    return os.path.join(get_dlt_pipelines_dir(), f"{pipeline_name}.lock")


@dataclass
class Warehouse:
    """One run's warehouse: the pipeline on its destination and one open SQL connection for queries."""

    pipeline: dlt.Pipeline
    client: Any
    label: str
    is_duckdb: bool

    @property
    def dataset(self) -> str:
        return self.pipeline.dataset_name

    def query(self, sql: str, *params: Any, missing_ok: bool = True) -> list[tuple]:
        """Run `sql`, `{table}` placeholders qualified; a table that does not exist yet gives []."""
        names = {name: self.client.make_qualified_table_name(name) for name in TABLES.names}
        try:
            return list(self.client.execute_sql(sql.format(**names), *params) or [])
        except DatabaseUndefinedRelation:
            if missing_ok:
                return []
            raise
        except Exception as exc:
            raise DestinationError(f"cannot read the warehouse at {self.label}: {cause_line(exc)}") from exc

    def existing_columns(self, table: str) -> set[str]:
        """Columns the table has now: an older warehouse lacks the columns later versions added."""
        rows = self.query(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            self.dataset,
            table,
        )
        return {row[0] for row in rows}

    def load(self, data: Any, normalize_workers: int = 1, log_level: int = logging.INFO) -> None:
        """Extract, normalize and load as separate logged steps; map failures to what the user can do."""
        pipeline = self.pipeline
        try:
            pipeline.extract(data, loader_file_format=LOADER_FILE_FORMAT)
            logger.log(log_level, "normalizing")
            pipeline.normalize(workers=normalize_workers)
            logger.log(log_level, "loading into %s (dataset %s)", self.label, self.dataset)
            pipeline.load()
        except PipelineStepFailed as exc:
            cause = root_cause(exc)
            if isinstance(cause, BgvError):
                raise cause from None
            if exc.step == "load":
                raise DestinationError(
                    f"loading into {self.label} failed: {cause_line(exc)}; "
                    "the data stays pending and the next run loads it first"
                ) from exc
            raise

    def finish_pending_packages(self) -> str | None:
        """Load what an interrupted run left, or discard it; returns what was done, for the log."""
        pipeline = self.pipeline
        if not pipeline.has_pending_data:
            return None
        try:
            pipeline.run()
            return "loaded the data a previous run left pending"
        except Exception as exc:
            logger.debug("finishing pending packages failed", exc_info=True)
            reason = cause_line(exc)
        try:
            pipeline.abort_packages()
        except Exception:
            logger.debug("aborting pending packages failed", exc_info=True)
        if pipeline.has_pending_data:
            raise DestinationError(f"cannot load or discard the data a previous run left pending: {reason}")
        return (
            f"discarded the data a previous run left pending, which could not be loaded ({reason}); "
            "its cases will be polled again"
        )


@contextmanager
def open_warehouse(pipeline_name: str, lock_wait_seconds: float) -> Iterator[Warehouse]:
    """The pipeline on its configured destination and one SQL connection, for the duration of one run.

    DuckDB (the default) gets a project-relative file, opened once and held until the run ends: a
    reader that holds the file is waited for, and none can slip in between the run's steps.
    """
    try:
        pipeline = dlt.pipeline(pipeline_name=pipeline_name, dataset_name=DATASET_NAME)
    except ConfigurationException as exc:
        raise ConfigurationError(f"pipeline configuration: {exc}") from None
    connection = None
    if _is_duckdb(pipeline):
        path = duckdb_path(pipeline_name)
        connection = _connect_duckdb(path, lock_wait_seconds)
        destination = dlt.destinations.duckdb(credentials=connection)
        pipeline = dlt.pipeline(pipeline_name=pipeline_name, dataset_name=DATASET_NAME, destination=destination)
        label = path
    else:
        label = pipeline.destination.destination_name
    try:
        client = pipeline.sql_client()
        client.open_connection()
        try:
            yield Warehouse(pipeline, client, label, is_duckdb=connection is not None)
        finally:
            client.close_connection()
    finally:
        if connection is not None:
            connection.close()


def _is_duckdb(pipeline: dlt.Pipeline) -> bool:
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
