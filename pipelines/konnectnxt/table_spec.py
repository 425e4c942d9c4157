"""How a table is declared: its dlt hints, its personal data, how it relates to cases (see `tables.py`)."""

import dataclasses
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A row flagged with this column deletes the case's old rows of a snapshot table and is never inserted.
TOMBSTONE_COLUMN = "_tombstone"
# A report table's JSON object of the vendor keys past max_vendor_columns (see `vendor_overflow.py`).
VENDOR_OVERFLOW = "vendor_overflow"
CASE_ID = "case_id"

_TYPES = {
    "text": {"data_type": "text"},
    "timestamp": {"data_type": "timestamp", "timezone": True},
    "bigint": {"data_type": "bigint"},
    "double": {"data_type": "double"},
    "bool": {"data_type": "bool"},
    "json": {"data_type": "json"},
}


@dataclass(frozen=True)
class PersonalData:
    """Which values of a table are personal: named columns, every vendor value, or none (explicitly)."""

    columns: tuple[str, ...] = ()
    # Vendor columns starting so (candidate_email from candidate.email) are personal too.
    prefixes: tuple[str, ...] = ()
    every_vendor_value: bool = False
    # With every_vendor_value: keys whose values describe the check, not the person.
    kept: tuple[str, ...] = ()
    # Columns holding a whole raw report: protected where the report tables' declarations protect.
    reports: tuple[str, ...] = ()
    # (column, key) pairs where a personal column holds the value of another key of the report's item.
    sent_as: tuple[tuple[str, str], ...] = ()

    def report_keys(self) -> set[str]:
        """The keys of a report item (an entry, a field...) that hold this table's personal columns."""
        renamed = dict(self.sent_as)
        return {renamed.get(column, column) for column in self.columns}

    def is_personal(self, column: str, own_columns: frozenset[str]) -> bool:
        if column in self.columns or column.startswith(self.prefixes):
            return True
        return self.every_vendor_value and column not in own_columns and column not in self.kept


NO_PERSONAL_DATA = PersonalData()


@dataclass(frozen=True)
class Table:
    """One warehouse table: its dlt hints, its personal data, and how it relates to cases."""

    name: str
    write_disposition: str
    columns: dict[str, str]
    personal: PersonalData
    # The columns that identify a row (the merge table's primary key, or a snapshot row's position).
    key: tuple[str, ...] = ()
    # Snapshot tables hold a case's rows of one report, replaced whole on every fetch of the case.
    snapshot: bool = False
    # Holds a case's data: polling writes it, --forget removes its rows, the summary counts them.
    per_case: bool = False
    not_null: tuple[str, ...] = (CASE_ID,)
    description: str = ""
    # The key of a check whose list becomes this table's rows ("entries", "fields"...), if any.
    report_items: str | None = None

    @property
    def own_columns(self) -> frozenset[str]:
        return frozenset(self.columns)

    def column_hints(self) -> dict[str, dict[str, Any]]:
        """Fresh dicts on every call: dlt writes into the hints it is given."""
        hints = {}
        for name, data_type in self.columns.items():
            hints[name] = {**_TYPES[data_type], "nullable": name not in self.not_null}
        if self.snapshot:
            hints[TOMBSTONE_COLUMN] = {"data_type": "bool", "hard_delete": True}
        return hints

    def resource_hints(self) -> dict[str, Any]:
        """Keyword arguments for `dlt.resource` / `dlt.transformer`."""
        hints: dict[str, Any] = {
            "name": self.name,
            "write_disposition": self.write_disposition,
            "columns": self.column_hints(),
        }
        if self.snapshot:
            # merge_key, no primary key: every stored row of the case goes, the new snapshot comes in.
            hints["merge_key"] = CASE_ID
        elif self.write_disposition == "merge":
            hints["primary_key"] = list(self.key)
        return hints


_PYTHON_TYPES = {datetime: "timestamp", bool: "bool", int: "bigint", float: "double", str: "text"}


def columns_of(record: type, exclude: typing.Iterable[str] = ()) -> dict[str, str]:
    """Column types of a dataclass whose instances are the table's rows: one definition for both."""
    hints = typing.get_type_hints(record)
    columns = {}
    for item in dataclasses.fields(record):
        if item.name in exclude:
            continue
        python_type = next(t for t in typing.get_args(hints[item.name]) or (hints[item.name],) if t is not type(None))
        columns[item.name] = _PYTHON_TYPES[python_type]
    return columns
