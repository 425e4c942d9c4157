"""Forgetting a case: every row of it leaves the warehouse and the dlt working dir; only its id stays."""

import os
import shutil
from datetime import datetime
from pathlib import Path

import dlt

from .settings import (
    CASE_STATUS_HISTORY,
    CHECK_STATUS_HISTORY,
    FETCH_ERRORS,
    FORGOTTEN_CASES,
    REPORT_TABLES,
    TRACKED_CASES,
)

TABLES_WITH_CASES = (TRACKED_CASES, *REPORT_TABLES, FETCH_ERRORS, CASE_STATUS_HISTORY, CHECK_STATUS_HISTORY)


def delete_case_rows(pipeline: dlt.Pipeline, case_ids: list[str]) -> dict[str, dict[str, int]]:
    """case_id -> table -> rows deleted, in one transaction.

    dlt's staging dataset keeps the last merged batch of each table after loading: it is cleaned too.
    """
    removed: dict[str, dict[str, int]] = {case_id: {} for case_id in case_ids}
    with pipeline.sql_client() as client:
        with client.begin_transaction():
            for table in TABLES_WITH_CASES:
                for case_id, deleted in _delete_from(client, client.make_qualified_table_name(table), case_ids):
                    removed[case_id][table] = deleted
            with client.with_staging_dataset():
                for table in TABLES_WITH_CASES:
                    list(_delete_from(client, client.make_qualified_table_name(table), case_ids))
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


def copy_to_fresh_file(pipeline: dlt.Pipeline, path: str) -> str:
    """Copy the DuckDB database to a new file next to it and return its path.

    Deleted rows stay in the old file's free blocks until overwritten; a forgotten candidate's data
    must not, so the caller swaps the copy in once the connection is closed.
    """
    fresh = f"{path}.forget-{os.getpid()}"
    if os.path.exists(fresh):
        os.remove(fresh)
    with pipeline.sql_client() as client:
        current = client.execute_sql("select current_database()")[0][0]
        client.execute_sql(f"attach '{fresh}' as bgv_fresh_copy")
        try:
            client.execute_sql(f'copy from database "{current}" to bgv_fresh_copy')
        finally:
            client.execute_sql("detach bgv_fresh_copy")
    return fresh


def purge_loaded_packages(pipeline: dlt.Pipeline) -> int:
    """Delete the loaded packages dlt keeps in the working dir (their job files hold report rows)."""
    loaded = Path(pipeline.working_dir) / "load" / "loaded"
    packages = [path for path in loaded.iterdir() if path.is_dir()] if loaded.exists() else []
    for package in packages:
        shutil.rmtree(package)
    return len(packages)


def forgotten_ids(pipeline: dlt.Pipeline) -> set[str]:
    try:
        with pipeline.sql_client() as client:
            rows = client.execute_sql(f"select case_id from {client.make_qualified_table_name(FORGOTTEN_CASES)}")
    except Exception:  # noqa: BLE001 - no table yet means nothing was forgotten
        return set()
    return {row[0] for row in rows or []}


def unforget(pipeline: dlt.Pipeline, case_ids: list[str]) -> None:
    """An explicit --case-id tracks a forgotten id again."""
    with pipeline.sql_client() as client:
        name = client.make_qualified_table_name(FORGOTTEN_CASES)
        for case_id in case_ids:
            client.execute_sql(f"delete from {name} where case_id = %s", case_id)


def forgotten_rows(case_ids: list[str], forgotten_at: datetime) -> list[dict]:
    return [{"case_id": case_id, "forgotten_at": forgotten_at} for case_id in case_ids]
