"""The warehouse of one run: the dlt pipeline on its destination, one SQL connection, loads, pending data."""

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.configuration.specs.base_configuration import is_secret_hint
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.common.runtime import run_context
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.pipeline.exceptions import PipelineStepFailed

from .errors import BgvError, ConfigurationError, DestinationError, cause_line, root_cause
from .schema_settings import never_coerce
from .settings import DATASET_NAME, DEMO_DUCKDB_FILE, DEMO_PIPELINE_NAME, DUCKDB_FILE, LOADER_FILE_FORMAT
from .tables import TABLES
from .working_dir import bring_back, record_binding, set_aside_for_another_warehouse

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


def is_duckdb_pipeline(pipeline_name: str) -> bool:
    """Whether the pipeline's configured destination is DuckDB (the default), known without opening it."""
    if pipeline_name == DEMO_PIPELINE_NAME:
        return True
    configured = dlt.config.get(f"pipelines.{pipeline_name}.destination_type")
    return configured is None or str(configured).split(".")[-1] == "duckdb"


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
    # Which warehouse this is (a path, or a server's public coordinates), for the working dir's binding.
    fingerprint: str = ""
    # What binding the working dir to this warehouse did (pending data of another one set aside).
    notes: list[str] = field(default_factory=list)
    _naming: Any = field(default=None, repr=False)

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

    def column_name(self, key: str) -> str:
        """The column dlt makes of a row key here: case, spaces, camelCase and non-ASCII folded."""
        if not key or key.isspace():
            return "_empty"
        if self._naming is None:  # loading the schema to get it costs milliseconds: once per run
            self._naming = self.pipeline.default_schema.naming
        return self._naming.normalize_identifier(key)

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
            pipeline.normalize()
            pipeline.load()
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
    never_coerce()
    try:
        pipeline = dlt.pipeline(pipeline_name=pipeline_name, dataset_name=DATASET_NAME)
    except ConfigurationException as exc:
        raise ConfigurationError(f"pipeline configuration: {exc}") from None
    connection = None
    try:
        if _is_duckdb(pipeline):
            path = duckdb_path(pipeline_name)
            connection = _connect_duckdb(path, lock_wait_seconds)
            destination: Any = dlt.destinations.duckdb(credentials=connection)
            label, fingerprint = path, f"duckdb:{path}#{DATASET_NAME}"
        else:
            destination = pipeline.destination
            label, fingerprint = destination.destination_name, _server_fingerprint(pipeline)
        working_dir = Path(pipeline.working_dir)
        notes = set_aside_for_another_warehouse(working_dir, fingerprint)
        # Attached (or created afresh) after that; packages waiting for this warehouse join it afterwards,
        # since dlt wipes a working dir it creates.
        pipeline = dlt.pipeline(pipeline_name=pipeline_name, dataset_name=DATASET_NAME, destination=destination)
        notes += bring_back(working_dir, fingerprint)
        record_binding(working_dir, fingerprint)
        for note in notes:
            logger.warning("%s", note)
        client = pipeline.sql_client()
        client.open_connection()
        try:
            yield Warehouse(pipeline, client, label, connection is not None, fingerprint, notes)
        finally:
            client.close_connection()
    finally:
        if connection is not None:
            connection.close()


def _server_fingerprint(pipeline: dlt.Pipeline) -> str:
    """Which server warehouse this is, without its secrets: destination type, public credentials, dataset."""
    credentials = pipeline.destination_client().config.credentials
    fields = type(credentials).get_resolvable_fields() if credentials is not None else {}
    public = ",".join(
        f"{name}={getattr(credentials, name)}" for name, hint in sorted(fields.items()) if not is_secret_hint(hint)
    )
    return f"{pipeline.destination.destination_type}:{public}#{DATASET_NAME}"


def _is_duckdb(pipeline: dlt.Pipeline) -> bool:
    destination = pipeline.destination
    return (
        pipeline.pipeline_name == DEMO_PIPELINE_NAME
        or destination is None
        or destination.destination_type.endswith(".duckdb")
    )


def _connect_duckdb(path: str, lock_wait_seconds: float) -> duckdb.DuckDBPyConnection:
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        os.remove(path)  # an empty file holds no warehouse: DuckDB would refuse it, start a new one instead
    deadline = time.monotonic() + lock_wait_seconds
    waiting = False
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.Error as exc:
            message = str(exc)
            if not _LOCKED.search(message):
                raise DestinationError(_unopenable(path, message)) from None
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


# DuckDB's words for a file another process holds; "block" in a corruption message is not one of them.
_LOCKED = re.compile(r"Could not set lock on file|Conflicting lock is held", re.IGNORECASE)
_NEWER_FORMAT = re.compile(r"version number (\d+), but we can only read versions between (\d+) and (\d+)")


def _unopenable(path: str, message: str) -> str:
    """One line for a DuckDB file that cannot be opened: corrupt, written by a newer DuckDB, or else."""
    first = message.splitlines()[0]
    newer = _NEWER_FORMAT.search(message)
    if newer:
        return (
            f"the DuckDB file {path} was written by a newer DuckDB (storage version {newer.group(1)}) than the "
            f"installed duckdb {duckdb.__version__} reads (versions {newer.group(2)} to {newer.group(3)}): install "
            "this project's pinned versions (pip install -e .) or open the file with the DuckDB that wrote it"
        )
    if "not a valid DuckDB database" in message or "Corrupt database" in message or "corrupt" in message.lower():
        return (
            f"the DuckDB file {path} is corrupt or not a DuckDB database ({first}); restore it from a backup, "
            "or move it away and run again to start a new warehouse"
        )
    return f"cannot open the DuckDB file {path}: {first}"


def _lock_holder(message: str) -> str:
    match = re.search(r"Conflicting lock is held in (.+?) \(PID (\d+)\)", message)
    return f"process {match.group(2)} ({match.group(1)})" if match else "another process"
