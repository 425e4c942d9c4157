"""The warehouse of one run: the dlt pipeline on its destination, one SQL connection, loads, pending data."""

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.pipeline.exceptions import PipelineStepFailed

from .destinations import dataset_name, destination_type, loader_file_format, server_location, with_lock_timeout
from .duckdb_file import connect_duckdb, duckdb_destination, duckdb_path
from .errors import (
    BgvError,
    ConfigurationError,
    DestinationError,
    NoSpaceLeft,
    cause_line,
    is_environmental,
    no_space_left,
    root_cause,
)
from .run_lock import database_run_lock
from .schema_settings import never_coerce
from .settings import LOADER_FILE_FORMAT
from .tables import TABLES
from .working_dir import (
    bring_back,
    record_binding,
    remove_abandoned_extracts,
    remove_loaded_packages,
    set_aside_for_another_warehouse,
)

logger = logging.getLogger("bgv")
# Rows per INSERT statement (a few thousand parameters); rows `Warehouse.write` puts in by SQL at most.
INSERT_BATCH_ROWS, SQL_ROWS_AT_MOST = 100, 1000


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
    loader_file_format: str = LOADER_FILE_FORMAT
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

    def insert_rows(self, table: str, rows: list[dict[str, Any]], existing: set[str] | None = None) -> None:
        """Rows by SQL, outside dlt's packages: the columns the table has (`existing` if given), dlt's own
        filled as it would; by the hundred, as DuckDB spends a millisecond on each statement."""
        existing = self.existing_columns(table) if existing is None else existing
        load_id = f"{time.time():.6f}"
        prepared = []
        for row in rows:
            values = {name: value for name, value in row.items() if name in existing}
            if "_dlt_load_id" in existing:
                values["_dlt_load_id"] = load_id
            if "_dlt_id" in existing:
                values["_dlt_id"] = uuid.uuid4().hex[:14]
            prepared.append(values)
        for names, same_keys in groupby(prepared, key=lambda values: tuple(values)):
            batch = list(same_keys)
            columns = ", ".join(self.client.capabilities.escape_identifier(name) for name in names)
            one_row = "(" + ", ".join(["%s"] * len(names)) + ")"
            for start in range(0, len(batch), INSERT_BATCH_ROWS):
                part = batch[start : start + INSERT_BATCH_ROWS]
                params = [value for values in part for value in values.values()]
                self.query(f"insert into {{{table}}} ({columns}) values {', '.join([one_row] * len(part))}", *params)

    def write(self, table: str, rows: list[dict[str, Any]], package: Any, key: str | None = None) -> None:
        """A few rows of `table` by SQL in one transaction, each replacing the row of its `key` (as a merge
        load would) when given; else `package` (the same rows as dlt data), which costs ~0.2 s: when
        the rows are over SQL_ROWS_AT_MOST, data is pending (it would load after them), the table lacks
        one of their columns, or the database refuses the SQL (a full disk: the package stays pending)."""
        rows = list({row[key]: row for row in rows}.values()) if key else rows
        existing = self.existing_columns(table)
        if len(rows) <= SQL_ROWS_AT_MOST and not self.pipeline.has_pending_data and set().union(*rows) <= existing:
            keys = [row[key] for row in rows] if key else []
            try:
                with self.client.begin_transaction():
                    for start in range(0, len(keys), INSERT_BATCH_ROWS):
                        part = keys[start : start + INSERT_BATCH_ROWS]
                        where = f"{self.client.escape_column_name(key)} in ({', '.join(['%s'] * len(part))})"
                        self.query(f"delete from {{{table}}} where {where}", *part)
                    self.insert_rows(table, rows, existing)
                return
            except DestinationError:
                logger.debug("writing %s by SQL failed; loading a package instead", table, exc_info=True)
        self.load(package, log_level=logging.DEBUG)

    def load(
        self,
        data: Any,
        normalize_workers: int = 1,
        log_level: int = logging.INFO,
        then: Callable[[], Any] | None = None,
    ) -> Any:
        """Extract, normalize and load as separate logged steps; map failures to what the user can do.

        Returns dlt's load info (its packages' `schema_update` is what the load added to the schema).

        `then` gives data to load in a package of its own once `data` is extracted (the polling state
        of what `data` fetched): dlt loads packages in order and stops at the first that fails, so it
        never commits before every table of `data` has.
        """
        pipeline = self.pipeline
        try:
            pipeline.extract(data, loader_file_format=self.loader_file_format)
            later = then() if then else None
            if later is not None:
                try:
                    pipeline.extract(later, loader_file_format=self.loader_file_format)
                except BaseException:
                    pipeline.abort_packages()  # all of the run's data, or none of it
                    raise
            logger.log(log_level, "normalizing")
            pipeline.normalize(workers=normalize_workers)
            logger.log(log_level, "loading into %s (dataset %s)", self.label, self.dataset)
            return self.load_pending()
        except PipelineStepFailed as exc:
            raise self.failure(exc, "the data stays pending and the next run loads it first") from exc

    def failure(self, exc: PipelineStepFailed, pending: str) -> BaseException:
        """The one-line error for a failed step: a full disk, our own error, or the load that failed."""
        working_dir = self.pipeline.working_dir
        full = no_space_left(exc, fallback=self.label if exc.step == "load" else working_dir)
        if full:
            return NoSpaceLeft(full)
        cause = root_cause(exc)
        if isinstance(cause, BgvError):
            return cause
        if exc.step == "load":
            return DestinationError(f"loading into {self.label} failed: {cause_line(exc)}; {pending}")
        return exc

    def load_pending(self) -> Any:
        """dlt's load step. On a server, one job at a time: dlt opens a connection per job, and a run
        must hold a few connections, not one per table and file at once."""
        if self.is_duckdb:
            info = self.pipeline.load()
        else:
            info = self.pipeline.load(workers=1)
        # Loaded: no copy of the rows stays in the working dir (dlt would keep a package per run).
        remove_loaded_packages(Path(self.pipeline.working_dir))
        return info

    def finish_pending_packages(self) -> str | None:
        """Load what an earlier run left pending; returns what was done, for the log.

        Pending data waits for a fault outside it (a full disk, a server down): the run stops with
        that fault and the data stays for the next one. Only data that cannot load for its own content
        (a corrupt file) is discarded, so that cron is never stuck on it.
        """
        pipeline = self.pipeline
        remove_abandoned_extracts(Path(pipeline.working_dir))
        if not pipeline.has_pending_data:
            return None
        try:
            pipeline.normalize()
            self.load_pending()
            return "loaded the data a previous run left pending"
        except Exception as exc:
            logger.debug("finishing pending packages failed", exc_info=True)
            if no_space_left(exc) or is_environmental(exc):
                if isinstance(exc, PipelineStepFailed):
                    raise self.failure(exc, "it stays pending and the next run loads it first") from exc
                raise DestinationError(
                    f"cannot load the data a previous run left pending: {cause_line(exc)}; "
                    "it stays pending and the next run loads it first"
                ) from exc
            reason = cause_line(exc)
        try:
            pipeline.abort_packages()
        except Exception:
            logger.debug("aborting pending packages failed", exc_info=True)
        remove_loaded_packages(Path(pipeline.working_dir))  # the discarded package lands there
        if pipeline.has_pending_data:
            raise DestinationError(f"cannot load or discard the data a previous run left pending: {reason}")
        return (
            f"discarded the data a previous run left pending, which cannot be loaded for its own content "
            f"({reason}); its cases will be polled again"
        )


@contextmanager
def open_warehouse(pipeline_name: str, lock_wait_seconds: float) -> Iterator[Warehouse]:
    """The pipeline on its configured destination and one SQL connection, for the duration of one run.

    DuckDB (the default) gets a project-relative file, opened once and held until the run ends: a
    reader that holds the file is waited for, and none can slip in between the run's steps. On
    PostgreSQL the run holds a lock in the database, and no statement waits more than
    `lock_wait_seconds` for a lock a reader holds.
    """
    never_coerce()
    kind = destination_type(pipeline_name)
    dataset = dataset_name(pipeline_name, kind)
    with ExitStack() as stack:
        if kind == "duckdb":
            path = duckdb_path(pipeline_name)
            connection = connect_duckdb(path, lock_wait_seconds)
            stack.callback(connection.close)
            destination: Any = duckdb_destination(connection)
            label, fingerprint = path, f"duckdb:{path}#{dataset}"
        else:
            destination, location = _server_destination(pipeline_name, kind, dataset, lock_wait_seconds)
            label, fingerprint = location.label, location.fingerprint
        working_dir = Path(get_dlt_pipelines_dir()) / pipeline_name
        notes = set_aside_for_another_warehouse(working_dir, fingerprint)
        # Attached (or created afresh) after that; packages waiting for this warehouse join it afterwards,
        # since dlt wipes a working dir it creates.
        pipeline = _pipeline(pipeline_name, dataset, destination)
        notes += bring_back(working_dir, fingerprint)
        record_binding(working_dir, fingerprint)
        for note in notes:
            logger.warning("%s", note)
        client = pipeline.sql_client()
        client.open_connection()
        stack.callback(client.close_connection)
        if kind == "postgres":
            stack.enter_context(database_run_lock(client, f"{pipeline_name}:{dataset}"))
        capabilities = pipeline.destination.capabilities()
        file_format = loader_file_format(kind, tuple(capabilities.supported_loader_file_formats))
        yield Warehouse(pipeline, client, label, kind == "duckdb", fingerprint, notes, loader_file_format=file_format)


def _pipeline(pipeline_name: str, dataset: str, destination: Any) -> dlt.Pipeline:
    try:
        return dlt.pipeline(pipeline_name=pipeline_name, dataset_name=dataset, destination=destination)
    except ConfigurationException as exc:
        raise ConfigurationError(f"pipeline configuration: {cause_line(exc)}") from None


def _server_destination(pipeline_name: str, kind: str, dataset: str, lock_wait_seconds: float) -> tuple[Any, Any]:
    """The configured server destination (its credentials resolved the dlt way) and where it is."""
    try:
        configured = dlt.pipeline(pipeline_name=pipeline_name, dataset_name=dataset, destination=kind)
        credentials = configured.destination_client().config.credentials
    except Exception as exc:  # noqa: BLE001 - missing or malformed credentials: say which and how to set them
        raise ConfigurationError(
            f"destination {kind}: {cause_line(exc)} (set [destination.{kind}] credentials in .dlt/secrets.toml "
            f"or DESTINATION__{kind.upper()}__CREDENTIALS)"
        ) from None
    location = server_location(credentials, kind, dataset)
    if kind == "postgres":
        return dlt.destinations.postgres(credentials=with_lock_timeout(credentials, lock_wait_seconds)), location
    return configured.destination, location
