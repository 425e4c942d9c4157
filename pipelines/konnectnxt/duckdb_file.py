"""The DuckDB file: where it is, and opening it (waiting for a reader, naming a corrupt or newer file)."""

import logging
import os
import re
import sys
import time
from typing import Any

import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigurationException
from dlt.common.runtime import run_context

from .destinations import destination_type
from .errors import ConfigurationError, DestinationError
from .settings import DEMO_DUCKDB_FILE, DEMO_PIPELINE_NAME, DUCKDB_FILE, DUCKDB_STORAGE_VERSION

logger = logging.getLogger("bgv")


def project_dir() -> str:
    """Where `.dlt/` lives and relative DuckDB paths start: DLT_PROJECT_DIR, set to the repo root."""
    return run_context.active().run_dir


def no_duckdb_file_yet(pipeline_name: str) -> bool:
    """The warehouse is a DuckDB file that does not exist: nothing to read, erase or record in."""
    return destination_type(pipeline_name) == "duckdb" and not os.path.exists(duckdb_path(pipeline_name))


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


def cli_command() -> str:
    """The duckdb command-line tool installed beside this Python (the duckdb-cli package), else `duckdb`."""
    beside = os.path.join(os.path.dirname(sys.executable), "duckdb")
    return beside if os.access(beside, os.X_OK) else "duckdb"


def connect_duckdb(path: str, lock_wait_seconds: float) -> duckdb.DuckDBPyConnection:
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        os.remove(path)  # an empty file holds no warehouse: DuckDB would refuse it, start a new one instead
    deadline = time.monotonic() + lock_wait_seconds
    waiting = False
    while True:
        try:
            return duckdb.connect(path, config={"storage_compatibility_version": DUCKDB_STORAGE_VERSION})
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


def duckdb_destination(connection: duckdb.DuckDBPyConnection) -> Any:
    """dlt's DuckDB destination on `connection`, its credentials resolved once.

    dlt resolves a destination's configuration twice per load job, a hundred times or more in a run,
    and for a connection given as is each resolution queries the database for its path: two thirds
    of the cost. Resolved credentials (with what [destination.duckdb.credentials] sets) are taken
    as they are.
    """
    given = dlt.destinations.duckdb(credentials=connection)
    try:
        credentials = given.configuration(None, accept_partial=True).credentials
    except ConfigurationException:
        return given  # a bad setting: creating the pipeline names it, as without this
    return dlt.destinations.duckdb(credentials=credentials) if credentials.is_resolved() else given


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
