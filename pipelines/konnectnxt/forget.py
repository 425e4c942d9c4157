"""Forgetting a case: every row of it leaves the warehouse and the dlt working dir; only its id stays."""

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import forgotten_record
from .case_ids import canonical_case_id
from .config import load_configuration
from .errors import CaseIdInputError
from .run_lock import run_lock
from .tables import FORGOTTEN_CASES, TABLES
from .warehouse import Warehouse, lock_path, open_warehouse
from .warehouse_check import prepare_warehouse

logger = logging.getLogger("bgv")


@dataclass
class ForgetReport:
    """What --forget removed."""

    pipeline_name: str
    destination: str
    removed: dict[str, dict[str, int]]
    packages_purged: int


def forget_cases(pipeline_name: str, values: Sequence[str]) -> ForgetReport:
    """Delete the named cases from every table and the working dir; keep only their ids and the time."""
    configuration = load_configuration(require_api_key=False)
    case_ids = []
    for value in values:
        try:
            case_ids.append(canonical_case_id(value))
        except ValueError as exc:
            raise CaseIdInputError(f"--forget: {exc}") from None
    case_ids = list(dict.fromkeys(case_ids))
    with run_lock(lock_path(pipeline_name)):
        with open_warehouse(pipeline_name, configuration.lock_wait_seconds) as warehouse:
            prepare_warehouse(warehouse)
            removed = delete_case_rows(warehouse, case_ids)
            warehouse.load(forgotten_record(forgotten_rows(case_ids, datetime.now(UTC))), log_level=logging.DEBUG)
            purged = purge_loaded_packages(warehouse)
            fresh_copy = copy_to_fresh_file(warehouse, warehouse.label) if warehouse.is_duckdb else None
        if fresh_copy:
            os.replace(fresh_copy, warehouse.label)
        return ForgetReport(pipeline_name, warehouse.label, removed, purged)


def delete_case_rows(warehouse: Warehouse, case_ids: list[str]) -> dict[str, dict[str, int]]:
    """case_id -> table -> rows deleted, in one transaction.

    dlt's staging dataset keeps the last merged batch of each table after loading: it is cleaned too.
    """
    removed: dict[str, dict[str, int]] = {case_id: {} for case_id in case_ids}
    client = warehouse.client
    with client.begin_transaction():
        for table in TABLES.per_case:
            for case_id, deleted in _delete_from(client, client.make_qualified_table_name(table.name), case_ids):
                removed[case_id][table.name] = deleted
        with client.with_staging_dataset():
            for table in TABLES.per_case:
                list(_delete_from(client, client.make_qualified_table_name(table.name), case_ids))
    client.execute_sql("checkpoint")
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


def copy_to_fresh_file(warehouse: Warehouse, path: str) -> str:
    """Copy the DuckDB database to a new file next to it and return its path.

    Deleted rows stay in the old file's free blocks until overwritten; a forgotten candidate's data
    must not, so the caller swaps the copy in once the connection is closed.
    """
    fresh = f"{path}.forget-{os.getpid()}"
    if os.path.exists(fresh):
        os.remove(fresh)
    client = warehouse.client
    current = client.execute_sql("select current_database()")[0][0]
    client.execute_sql(f"attach '{fresh}' as bgv_fresh_copy")
    try:
        client.execute_sql(f'copy from database "{current}" to bgv_fresh_copy')
    finally:
        client.execute_sql("detach bgv_fresh_copy")
    return fresh


def purge_loaded_packages(warehouse: Warehouse) -> int:
    """Delete the loaded packages dlt keeps in the working dir (their job files hold report rows)."""
    loaded = Path(warehouse.pipeline.working_dir) / "load" / "loaded"
    packages = [path for path in loaded.iterdir() if path.is_dir()] if loaded.exists() else []
    for package in packages:
        shutil.rmtree(package)
    return len(packages)


def forgotten_ids(warehouse: Warehouse) -> set[str]:
    return {row[0] for row in warehouse.query(f"select case_id from {{{FORGOTTEN_CASES.name}}}")}


def unforget(warehouse: Warehouse, case_ids: list[str]) -> None:
    """An explicit --case-id tracks a forgotten id again."""
    for case_id in case_ids:
        warehouse.query(f"delete from {{{FORGOTTEN_CASES.name}}} where case_id = %s", case_id)


def forgotten_rows(case_ids: list[str], forgotten_at: datetime) -> list[dict]:
    return [{"case_id": case_id, "forgotten_at": forgotten_at} for case_id in case_ids]
