"""Before a run touches data, the warehouse is the truth: a new, lost or restored warehouse is recognised,
said in one line, and given every table and column it lacks.

dlt stamps a schema version into the warehouse when it loads a package, but creates only the tables
that package has rows for; a run loads several packages, so a warehouse that is new to the local
state would be marked as holding tables it never got. Creating what is missing up front, from the
registry and the local schema, keeps every later load from failing on a table that does not exist.
"""

import json
import logging
from datetime import datetime
from pathlib import Path

from . import warehouse_tables
from .settings import LOADER_FILE_FORMAT
from .tables import RUNS, TABLES
from .warehouse import Warehouse
from .working_dir import record_binding

logger = logging.getLogger("bgv")
LAST_RUN_FILE = "bgv_last_run.json"


def prepare_warehouse(warehouse: Warehouse) -> list[str]:
    """Load or refuse what is pending, take the schema from the warehouse, create what it lacks.

    Logs and returns the lines worth telling the user (a new or older warehouse, pending data loaded).
    """
    notes = []
    had_tables = bool(set(existing_tables(warehouse)) & set(TABLES.names))
    note = warehouse.finish_pending_packages()
    if note:
        logger.warning("%s", note)
        notes.append(note)
    # A new working dir takes its schema from the warehouse; a warehouse without our dataset resets it.
    if not holds_the_local_state(warehouse):
        warehouse.pipeline.sync_destination()
    record_binding(Path(warehouse.pipeline.working_dir), warehouse.fingerprint)
    if not had_tables:
        note = f"new warehouse at {warehouse.label}: starting from the ids given to this run"
        logger.info("%s", note)
        notes.append(note)
    elif older := older_than_local_state(warehouse):
        logger.warning("%s", older)
        notes.append(older)
    create_missing_tables(warehouse)
    return notes


def holds_the_local_state(warehouse: Warehouse) -> bool:
    """Whether the warehouse's newest pipeline state is the working dir's, every schema it names at hand.

    dlt's sync then changes nothing (it takes a remote state only when it differs, and fetches only
    schemas missing here) and costs a sixth of a small run. A new working dir, a warehouse without our
    dataset, or a state another checkout or host loaded since is synced.
    """
    pipeline = warehouse.pipeline
    if not pipeline.default_schema_name:
        return False
    state = pipeline.state
    if not state.get("_version_hash") or not all(map(pipeline.schemas.has_schema, state.get("schema_names", []))):
        return False
    state_table, loads_table = map(warehouse.client.make_qualified_table_name, ("_dlt_pipeline_state", "_dlt_loads"))
    newest = warehouse.query(
        f"select s.version_hash from {state_table} s join {loads_table} l on l.load_id = s._dlt_load_id "
        "where s.pipeline_name = %s and l.status = 0 order by l.load_id desc limit 1",
        pipeline.pipeline_name,
    )
    return bool(newest) and newest[0][0] == state["_version_hash"]


def existing_tables(warehouse: Warehouse) -> dict[str, set[str]]:
    """Table -> columns of the run's dataset, as the database has them now."""
    rows = warehouse.query(
        "select table_name, column_name from information_schema.columns where table_schema = %s", warehouse.dataset
    )
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def create_missing_tables(warehouse: Warehouse) -> None:
    """Every registered table, and every column the local schema knows, exists in the warehouse."""
    pipeline = warehouse.pipeline
    # Read once: dlt loads the schema from the working dir at each access.
    known = set(pipeline.default_schema.tables) if pipeline.default_schema_name else set()
    unknown = [table for table in TABLES if table.name not in known]
    if unknown:
        # Teaches the local schema their columns; a new working dir's state goes in a package loaded below.
        pipeline.extract(warehouse_tables(unknown), loader_file_format=LOADER_FILE_FORMAT)
        pipeline.normalize()
    existing = existing_tables(warehouse)
    lacking = [
        name
        for name, table in pipeline.default_schema.tables.items()
        if not name.startswith("_dlt") and not set(table.get("columns", {})) <= existing.get(name, set())
    ]
    if lacking:
        logger.debug("creating what the warehouse lacks of %s", ", ".join(lacking))
        # Forced: the warehouse may carry this schema's version stamp without the tables it stands for.
        with pipeline.destination_client() as client:
            if not client.is_storage_initialized():
                client.initialize_storage()
            client.update_stored_schema(force=True)
    if pipeline.has_pending_data:
        warehouse.load_pending()


def remember_run(warehouse: Warehouse, run_id: str, finished_at: datetime) -> None:
    """The last run recorded in the warehouse, kept locally: a restored older warehouse will not know it."""
    marker = Path(warehouse.pipeline.working_dir) / LAST_RUN_FILE
    record = {"run_id": run_id, "finished_at": finished_at.isoformat(), "warehouse": warehouse.fingerprint}
    marker.write_text(json.dumps(record), encoding="utf-8")


def older_than_local_state(warehouse: Warehouse) -> str | None:
    """A line saying so when the warehouse lacks the last run the local state recorded in it."""
    try:
        last = json.loads((Path(warehouse.pipeline.working_dir) / LAST_RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if last.get("warehouse") != warehouse.fingerprint:
        return None
    known = warehouse.query(f"select count(*) from {{{RUNS.name}}} where run_id = %s", last.get("run_id"))
    if known and known[0][0]:
        return None
    newest = warehouse.query(f"select max(finished_at) from {{{RUNS.name}}}")
    newest_at = newest[0][0] if newest and newest[0][0] else None
    holds = f"its newest run finished {newest_at:%Y-%m-%d %H:%M %Z}" if newest_at else "it holds no run"
    return (
        f"the warehouse is older than the local state: {holds}, the last run recorded here finished "
        f"{last.get('finished_at', '?')[:16]}; the cases it holds as open are polled again"
    )
