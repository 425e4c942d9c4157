"""Forgetting a case: every row of it leaves the warehouse and the dlt working dir; only its id stays.

A forget is written down before it starts and crossed off when it is complete: one that is
interrupted anywhere (a kill, a crash, a full disk) is completed by the next run before it does
anything else, so a forgotten case can never come back half-erased.
"""

import glob
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .case_ids import flag_case_ids
from .config import load_configuration
from .duckdb_file import duckdb_path, no_duckdb_file_yet
from .run_lock import run_lock
from .settings import DUCKDB_STORAGE_VERSION
from .tables import FORGOTTEN_CASES, SCHEMA_CHANGES, TABLES
from .warehouse import Warehouse, lock_path, open_warehouse
from .warehouse_check import prepare_warehouse
from .working_dir import remove_abandoned_extracts, remove_loaded_packages

logger = logging.getLogger("bgv")
FRESH_COPY_SUFFIX = ".forget-"


@dataclass
class ForgetReport:
    """What --forget removed."""

    pipeline_name: str
    destination: str
    removed: dict[str, dict[str, int]]
    packages_purged: int
    no_warehouse: bool = False


def intent_path(pipeline_name: str) -> Path:
    """Where a forget in progress is written down: beside the run lock, out of reach of dlt's wipes."""
    return Path(lock_path(pipeline_name)).with_suffix(".forgetting.json")


def forget_cases(pipeline_name: str, values: Sequence[str]) -> ForgetReport:
    """Delete the named cases from every table and the working dir; keep only their ids and the time."""
    configuration = load_configuration(require_api_key=False)
    case_ids = flag_case_ids(values, "--forget")
    if no_duckdb_file_yet(pipeline_name):
        return ForgetReport(pipeline_name, duckdb_path(pipeline_name), {}, 0, no_warehouse=True)
    intent = intent_path(pipeline_name)
    with run_lock(lock_path(pipeline_name)):
        case_ids = list(dict.fromkeys([*_owed(intent), *case_ids]))  # an interrupted forget is completed too
        _write_durably(intent, {"case_ids": case_ids})
        with open_warehouse(pipeline_name, configuration.lock_wait_seconds) as warehouse:
            prepare_warehouse(warehouse)
            logger.debug("erasing %d case(s)", len(case_ids))
            removed = erase(warehouse, case_ids)
            purged = purge_loaded_packages(warehouse)
            fresh_copy = copy_to_fresh_file(warehouse) if warehouse.is_duckdb else None
        if fresh_copy:
            shutil.copymode(warehouse.label, fresh_copy)
            os.replace(fresh_copy, warehouse.label)
        intent.unlink(missing_ok=True)
        return ForgetReport(pipeline_name, warehouse.label, removed, purged)


def complete_interrupted_forget(pipeline_name: str) -> ForgetReport | None:
    """Finish a forget an earlier process did not complete; None when there is none."""
    case_ids = _owed(intent_path(pipeline_name))
    if not case_ids:
        return None
    logger.warning("completing an interrupted --forget of %d case(s) first", len(case_ids))
    return forget_cases(pipeline_name, case_ids)


def erase(warehouse: Warehouse, case_ids: list[str]) -> dict[str, dict[str, int]]:
    """Delete every row of the cases and record them as forgotten, in one transaction.

    Returns case_id -> table -> rows deleted. dlt's staging dataset keeps the last merged batch of each
    table after loading: it is cleaned too. Then the rows leave the table files (DuckDB: checkpoint and
    a fresh copy of the file; PostgreSQL: VACUUM FULL of the tables that held them).
    """
    removed: dict[str, dict[str, int]] = {case_id: {} for case_id in case_ids}
    client = warehouse.client
    forgotten = client.make_qualified_table_name(FORGOTTEN_CASES.name)
    schema_changes = client.make_qualified_table_name(SCHEMA_CHANGES.name)
    now, load_id = datetime.now(UTC), f"forget-{uuid.uuid4().hex[:12]}"
    with client.begin_transaction():
        for table in TABLES.per_case:
            for case_id, deleted in _delete_from(client, client.make_qualified_table_name(table.name), case_ids):
                removed[case_id][table.name] = deleted
        with client.with_staging_dataset():
            for table in TABLES.per_case:
                list(_delete_from(client, client.make_qualified_table_name(table.name), case_ids))
        for case_id in case_ids:
            # The change stays (a column name and a type are no personal data); which case brought it goes.
            client.execute_sql(f"update {schema_changes} set case_id = null where case_id = %s", case_id)
            client.execute_sql(f"delete from {forgotten} where case_id = %s", case_id)
            client.execute_sql(
                f"insert into {forgotten} (case_id, forgotten_at, _dlt_load_id, _dlt_id) values (%s, %s, %s, %s)",
                case_id,
                now,
                load_id,
                uuid.uuid4().hex[:14],
            )
    touched = sorted({table for tables in removed.values() for table in tables})
    if warehouse.is_duckdb:
        client.execute_sql("checkpoint")
    elif touched and client.capabilities.sqlglot_dialect == "postgres":
        for table in touched:
            client.execute_sql(f"vacuum full {client.make_qualified_table_name(table)}")
    return removed


def _delete_from(client, qualified_table: str, case_ids: list[str]):
    """(case_id, rows deleted) for each id with rows; a table that does not exist has none."""
    schema, table = [part.strip('"') for part in qualified_table.split(".")[-2:]]
    exists = client.execute_sql(
        "select count(*) from information_schema.tables where table_schema = %s and table_name = %s", schema, table
    )[0][0]
    if not exists:
        return
    for case_id in case_ids:
        count = client.execute_sql(f"select count(*) from {qualified_table} where case_id = %s", case_id)[0][0]
        if count:
            client.execute_sql(f"delete from {qualified_table} where case_id = %s", case_id)
            yield case_id, count


def copy_to_fresh_file(warehouse: Warehouse) -> str:
    """Copy the DuckDB database to a new file next to it and return its path.

    Deleted rows stay in the old file's free blocks until overwritten; a forgotten candidate's data
    must not, so the caller swaps the copy in once the connection is closed. Copies an interrupted
    forget left behind go first.
    """
    remove_leftover_copies(warehouse.label)
    fresh = f"{warehouse.label}{FRESH_COPY_SUFFIX}{os.getpid()}"
    logger.debug("rewriting the DuckDB file without the forgotten cases' free blocks")
    client = warehouse.client
    current = client.execute_sql("select current_database()")[0][0]
    client.execute_sql(f"attach '{fresh}' as bgv_fresh_copy (storage_version '{DUCKDB_STORAGE_VERSION}')")
    try:
        client.execute_sql(f'copy from database "{current}" to bgv_fresh_copy')
    finally:
        client.execute_sql("detach bgv_fresh_copy")
    return fresh


def remove_leftover_copies(database_file: str) -> None:
    """Delete fresh copies a killed forget left beside the database (the run lock is held: none is live)."""
    for leftover in glob.glob(glob.escape(database_file) + FRESH_COPY_SUFFIX + "*"):
        os.remove(leftover)


def purge_loaded_packages(warehouse: Warehouse) -> int:
    """Delete what the working dir still holds of loaded or abandoned packages (their files hold report rows).

    Pending packages were loaded (or discarded) by prepare_warehouse just before, so no stage keeps any.
    """
    working_dir = Path(warehouse.pipeline.working_dir)
    return remove_loaded_packages(working_dir) + remove_abandoned_extracts(working_dir)


def forgotten_ids(warehouse: Warehouse) -> set[str]:
    return {row[0] for row in warehouse.query(f"select case_id from {{{FORGOTTEN_CASES.name}}}")}


def unforget(warehouse: Warehouse, case_ids: list[str]) -> None:
    """An explicit --case-id tracks a forgotten id again."""
    for case_id in case_ids:
        warehouse.query(f"delete from {{{FORGOTTEN_CASES.name}}} where case_id = %s", case_id)


def _owed(intent: Path) -> list[str]:
    """The ids of a forget that was written down and not crossed off."""
    try:
        return list(json.loads(intent.read_text(encoding="utf-8"))["case_ids"])
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("unreadable record of an interrupted --forget at %s; run --forget again", intent)
        return []


def _write_durably(path: Path, content: dict) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(content, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
