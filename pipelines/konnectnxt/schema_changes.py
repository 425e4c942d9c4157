"""What a run added to the warehouse's schema, from dlt's load info: new vendor columns, new value types.

A change is a column dlt added to one of our tables in this run's load packages that the registry does
not declare (a vendor key new to the warehouse: `new column`), or a variant column dlt made because a
value came with another type than its column's (`summary_total__v_text`: `type change` of
`summary_total` to `text`). dlt's own columns, and the registry's columns (a new warehouse, or an
upgrade adding one), are not changes of the vendor's format. On a new warehouse the first reports'
vendor keys are new columns: the first record of the vendor's shape.
"""

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from . import schema_change_record
from .bookkeeping_rows import SchemaChange
from .table_spec import CASE_ID, TOMBSTONE_COLUMN
from .tables import SCHEMA_CHANGES, TABLES
from .vendor_overflow import VendorColumnLimit
from .warehouse import Warehouse
from .warehouse_check import existing_tables

NEW_COLUMN = "new column"
TYPE_CHANGE = "type change"
# The summary names this many changes per line, then says how many more schema_changes holds.
SHOWN_PER_LINE = 20
_VARIANT = "__v_"


def schema_changes(schema_updates: Iterable[Mapping[str, Any]], run_id: str, now: datetime) -> dict[SchemaChange, str]:
    """The changes in dlt's `schema_update`s (one per load package), each with the column it added.

    Which case brought a change is not known here (`case_id` None): see `with_cases_that_brought_them`.
    """
    changes: dict[tuple[str, str, str], tuple[SchemaChange, str]] = {}
    known = set(TABLES.names)
    for update in schema_updates:
        for table_name, table in update.items():
            if table_name not in known:
                continue
            own = TABLES[table_name].own_columns
            for name, column in table.get("columns", {}).items():
                data_type = column.get("data_type") or "text"
                if column.get("variant") and _VARIANT in name:
                    base, change = name.rsplit(_VARIANT, 1)[0], TYPE_CHANGE
                elif name in own or name == TOMBSTONE_COLUMN or name.startswith("_dlt"):
                    continue
                else:
                    base, change = name, NEW_COLUMN
                found = SchemaChange(run_id, table_name, base, data_type, change, now, None)
                changes.setdefault((table_name, base, change), (found, name))
    order = {name: position for position, name in enumerate(TABLES.names)}
    ordered = sorted(
        changes.values(), key=lambda item: (order[item[0].table_name], item[0].change, item[0].column_name)
    )
    return dict(ordered)


def summary_lines(changes: list[SchemaChange]) -> list[str]:
    """`new columns: entries.sla_status, ...` and `type changes: cases.summary_total now also text, ...`."""
    new = [f"{c.table_name}.{c.column_name}" for c in changes if c.change == NEW_COLUMN]
    typed = [f"{c.table_name}.{c.column_name} now also {c.data_type}" for c in changes if c.change == TYPE_CHANGE]
    lines = []
    for label, items in (("new columns", new), ("type changes", typed)):
        if items:
            shown = ", ".join(items[:SHOWN_PER_LINE])
            more = len(items) - SHOWN_PER_LINE
            lines.append(f"{label}: {shown}" + (f" and {more:,} more (see schema_changes)" if more > 0 else ""))
    return lines


def record_schema_changes(warehouse: Warehouse, load_info: Any, run_id: str) -> list[SchemaChange]:
    """The changes the load behind `load_info` made, each with a case holding it, written to `schema_changes`.

    By SQL rather than a load package that cost a sixth of a small run (every new warehouse has
    changes), when `Warehouse.write` can.
    """
    updates = [package.schema_update for package in getattr(load_info, "load_packages", None) or []]
    changes = with_cases_that_brought_them(warehouse, schema_changes(updates, run_id, datetime.now(UTC)))
    rows = [change.row() for change in changes]
    if rows:
        warehouse.write(SCHEMA_CHANGES.name, rows, schema_change_record(rows))
    return changes


def with_cases_that_brought_them(warehouse: Warehouse, changes: dict[SchemaChange, str]) -> list[SchemaChange]:
    """Each change with one case whose row holds a value in the column it added (new: only this run's values).

    One small query per change: two columns read, where one query over hundreds of columns of a wide
    table took DuckDB a hundred MB.
    """
    found = []
    for change, column in changes.items():
        if CASE_ID in TABLES[change.table_name].columns:
            rows = warehouse.query(
                f"select {CASE_ID} from {{{change.table_name}}} "
                f"where {warehouse.client.escape_column_name(column)} is not null limit 1"
            )
            change = replace(change, case_id=rows[0][0] if rows else None)
        found.append(change)
    return found


def vendor_column_limit(warehouse: Warehouse, limit: int) -> VendorColumnLimit:
    """The limit over the vendor columns the report tables have in the warehouse now (read once per run)."""
    return VendorColumnLimit.from_warehouse(limit, TABLES.from_report, existing_tables(warehouse))
