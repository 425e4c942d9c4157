"""How many vendor keys a table gives columns: up to `max_vendor_columns`, the rest kept in `vendor_overflow`.

A vendor column is a column of a report table beyond the ones the registry declares (and dlt's own).
The rule, per table, for one run (and for --rebuild):

1. A vendor key that already is a column in the warehouse stays a column.
2. A new key becomes a column while the table has fewer than `max_vendor_columns` vendor columns.
   The keys new in a batch of rows (up to a few hundred reports) are admitted in sorted column-name
   order, so the same reports give the same columns whatever order the answers came in.
3. Every other key's value goes, under the column name it would have had, into the row's JSON object
   `vendor_overflow`: nothing is dropped, and `vendor_overflow->>'key'` reads it back.

A key that once went to `vendor_overflow` stays there while the table is full: columns are never
removed, so the decision does not flip between runs. Raising the limit and running --rebuild turns
such keys into columns (new keys first come in sorted order).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .table_spec import TOMBSTONE_COLUMN, VENDOR_OVERFLOW, Table

Row = dict[str, Any]


def is_vendor_column(table: Table, column: str) -> bool:
    """A column the vendor's keys made: not declared in the registry, not dlt's."""
    return column not in table.own_columns and column != TOMBSTONE_COLUMN and not column.startswith("_dlt")


@dataclass
class VendorColumnLimit:
    """The run's vendor columns per table, and the keys it kept in `vendor_overflow` instead."""

    limit: int
    # table -> its vendor columns: those in the warehouse at the start of the run, then those admitted.
    columns: dict[str, set[str]] = field(default_factory=dict)
    # table -> the keys this run kept in vendor_overflow.
    overflowed: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_warehouse(
        cls, limit: int, tables: Iterable[Table], existing: Mapping[str, set[str]]
    ) -> "VendorColumnLimit":
        """The limit over the vendor columns `existing` (table -> its columns in the warehouse) holds."""
        columns = {
            table.name: {column for column in existing.get(table.name, ()) if is_vendor_column(table, column)}
            for table in tables
        }
        return cls(limit, columns)

    def place(self, table: Table, rows: list[Row]) -> list[Row]:
        """`rows` with the keys past the limit moved into `vendor_overflow`; rows of other tables unchanged."""
        if VENDOR_OVERFLOW not in table.columns:
            return rows
        columns = self.columns.setdefault(table.name, set())
        overflowed = self.overflowed.setdefault(table.name, set())
        keys: set[str] = set()
        for row in rows:  # C-level set updates: a run's hundreds of thousands of rows cost no loop per key
            keys.update(row)
        keys -= columns | table.own_columns
        for key in sorted(keys - overflowed):
            if not is_vendor_column(table, key):
                continue
            if len(columns) < self.limit:
                columns.add(key)
            else:
                overflowed.add(key)
        return [_with_overflow(row, overflowed) for row in rows] if keys & overflowed else rows

    def summary_lines(self) -> list[str]:
        """One line per table that kept keys in vendor_overflow this run."""
        return [
            f"{table}: {len(keys):,} new vendor key(s) past max_vendor_columns={self.limit} kept in {VENDOR_OVERFLOW}"
            for table, keys in self.overflowed.items()
            if keys
        ]


def _with_overflow(row: Row, overflowed: set[str]) -> Row:
    kept = {key: value for key, value in row.items() if key in overflowed}
    if not kept:
        return row
    placed = {key: value for key, value in row.items() if key not in overflowed}
    placed[VENDOR_OVERFLOW] = kept
    return placed
