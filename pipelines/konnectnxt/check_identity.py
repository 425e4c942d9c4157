"""Which stored check a check of a new report is, so its `check_key` follows it when the vendor reorders.

The rule, applied to each check type on its own (a check that is not an object, or whose `type` is
missing or empty, has the type "unknown"), between the stored checks of the last applied report and
the checks of the new report:

1. By name: a new check and a stored check with the same `name` are the same check when that name is
   held by exactly one check of the type in each report.
2. By what it holds: among the checks left, the two that hold the most alike identifying values are
   paired first, then the next most alike two, and so on; two checks sharing no identifying value are
   not paired here. A check's identifying values are all the scalar values it holds (in `fields`,
   `entries` at any depth, `documents`, and keys the vendor adds), compared as text with case and
   spacing ignored, leaving out `type`, `name`, `category`, field labels and what reports progress
   (`status`, `result`, `completed_at`, `remark`, at any depth). How alike two checks are is the
   Jaccard index of their value sets (values shared / values of either). A tie goes to the earlier
   stored check, then to the earlier new check.
3. By order: the checks still left are paired in order, the first stored check left with the first
   new check left, and so on.

A paired check keeps its stored key. A new check left unpaired takes, in report order, the lowest
free key of its type: `type`, then `type#2`, `type#3`... skipping every key already given. A stored
check left unpaired is gone and has no key in the new report. Step 3 pairs every leftover, so a type
never both loses and gains a check in one report (a check replaced by one holding nothing alike
counts as the same check and keeps its key): a newcomer never takes a key freed in the same report,
but a key freed in an earlier report may go to a later newcomer. With no stored checks every check
is new, which gives the positional keys of earlier versions (`type`, `type#2`...).

Whether a report changed is decided by `report_fingerprint`, which ignores `generated_at` and the
order of checks, of the entries of a check, of its fields and of its documents. The order of every
other list (`flags` inside an entry, an entry's own documents...) still counts.
"""

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from .table_spec import VENDOR_OVERFLOW, Table
from .tables import CHECK_DOCUMENTS, CHECK_FIELDS, CHECKS, ENTRIES, TABLES

Row = dict[str, Any]
StoredCheck = tuple[str, dict[str, Any]]

UNKNOWN_TYPE = "unknown"
# Keys a check is described by rather than identified by (the type is the group, the name is step 1).
_DESCRIPTIVE_KEYS = frozenset({"type", "name", "category"})
# Keys, at any depth, whose values report progress or name a value: they say nothing of which check it is.
_NOT_IDENTIFYING_KEYS = frozenset({"status", "result", "completed_at", "remark", "label"})
# Lists of a check whose order carries no meaning.
_UNORDERED_LISTS = ("entries", "fields", "documents")


def assign_check_keys(previous: list[StoredCheck], current: list[Any]) -> list[str]:
    """The `check_key` of each check of `current`, in order, following the stored `(key, check)` pairs."""
    stored = _first_of_each_key(previous)
    keys: dict[int, str] = {}
    positions_by_type: dict[str, list[int]] = defaultdict(list)
    for position, check in enumerate(current):
        positions_by_type[check_type_of(check)].append(position)
    for check_type, positions in positions_by_type.items():
        same_type = [(key, check) for key, check in stored if check_type_of(check) == check_type]
        pairs = _matched_checks([check for _, check in same_type], [current[p] for p in positions])
        for old, new in pairs:
            keys[positions[new]] = same_type[old][0]
    given = set(keys.values())
    for position, check in enumerate(current):
        if position not in keys:
            keys[position] = _lowest_free_key(check_type_of(check), given)
            given.add(keys[position])
    return [keys[position] for position in range(len(current))]


def check_type_of(check: Any) -> str:
    """The type a check is grouped and keyed by: its `type` as text, or "unknown"."""
    check_type = check.get("type") if isinstance(check, dict) else None
    return str(check_type) if check_type not in (None, "") else UNKNOWN_TYPE


def report_fingerprint(data: dict[str, Any]) -> str:
    """A hash of the report that ignores `generated_at` and the order of checks, entries, fields, documents."""
    content = {key: value for key, value in data.items() if key != "generated_at"}
    if isinstance(content.get("checks"), list):
        content["checks"] = sorted((_unordered_check(check) for check in content["checks"]), key=_canonical)
    return hashlib.sha256(_canonical(content).encode("utf-8")).hexdigest()


def checks_from_rows(tables: Mapping[str, list[Row]]) -> list[StoredCheck]:
    """One case's checks in report shape with their keys, rebuilt from its rows by table name.

    For `previous` from what the warehouse stores (order: by key, `type` before `type#2`), and for the
    new report's rows once PII protection ran, so both sides are compared in the same form.
    """
    children: dict[str, dict[str, list[tuple[Any, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in _rows_of(tables, ENTRIES):
        entry = _vendor_values(row, ENTRIES.own_columns, "entry_")
        children[row["check_key"]]["entries"].append((row.get("entry_index"), entry))
    for row in _rows_of(tables, CHECK_FIELDS):
        field = {"label": row.get("label"), "value": row.get("value")}
        field.update(_vendor_values(row, CHECK_FIELDS.own_columns, "field_"))
        children[row["check_key"]]["fields"].append((row.get("field_index"), field))
    for row in _rows_of(tables, CHECK_DOCUMENTS):
        extra = _vendor_values(row, CHECK_DOCUMENTS.own_columns, "document_")
        document = {"url": row.get("url"), **extra} if extra else row.get("url")
        children[row["check_key"]]["documents"].append((row.get("document_index"), document))
    checks = []
    for row in _rows_of(tables, CHECKS):
        check = {
            "type": row.get("check_type"),
            "name": row.get("check_name"),
            "category": row.get("category"),
            "status": row.get("status"),
            "result": row.get("result"),
            "completed_at": row.get("completed_at_raw"),
            "remark": row.get("remark"),
            **_vendor_values(row, CHECKS.own_columns, "check_"),
        }
        for list_name, items in children[row["check_key"]].items():
            check[list_name] = [item for _, item in sorted(items, key=_by_index)]
        checks.append((row["check_key"], check))
    return sorted(checks, key=lambda stored: (check_type_of(stored[1]), _key_number(stored[0])))


def with_stored_keys(tables: dict[str, list[Row]], previous: list[StoredCheck]) -> None:
    """Give a new snapshot's rows (by table name, keyed by position) the keys of the stored checks they are.

    Run once PII protection ran, so the new checks are compared in the form `previous` was stored in.
    """
    if not previous:  # every check is new: the positional keys the transform gave are the keys
        return
    current = dict(checks_from_rows(tables))
    positional = [row["check_key"] for row in _rows_of(tables, CHECKS)]
    renamed = dict(zip(positional, assign_check_keys(previous, [current[key] for key in positional])))
    for table in (CHECKS, *TABLES.check_items):  # every table made of a check's lists follows its check
        for row in _rows_of(tables, table):
            row["check_key"] = renamed.get(row["check_key"], row["check_key"])


def _matched_checks(stored: list[Any], current: list[Any]) -> list[tuple[int, int]]:
    """(stored index, current index) pairs of the same checks among checks of one type: name, content, order."""
    stored_left, current_left = list(range(len(stored))), list(range(len(current)))
    pairs: list[tuple[int, int]] = []

    def pair(old: int, new: int) -> None:
        pairs.append((old, new))
        stored_left.remove(old)
        current_left.remove(new)

    stored_names = Counter(_name_of(check) for check in stored)
    current_names = Counter(_name_of(check) for check in current)
    for old in list(stored_left):
        name = _name_of(stored[old])
        if name is not None and stored_names[name] == 1 and current_names[name] == 1:
            pair(old, next(new for new in current_left if _name_of(current[new]) == name))

    stored_values = {old: _identifying_values(stored[old]) for old in stored_left}
    current_values = {new: _identifying_values(current[new]) for new in current_left}
    scored = [
        (-alike, old, new)
        for old in stored_left
        for new in current_left
        if (alike := _jaccard(stored_values[old], current_values[new])) > 0
    ]
    for _, old, new in sorted(scored):
        if old in stored_left and new in current_left:
            pair(old, new)

    for old, new in list(zip(stored_left, current_left)):
        pair(old, new)
    return pairs


def _identifying_values(check: Any) -> frozenset[str]:
    """The values that tell one check of a type from another, as normalised text (see the module rule)."""
    if isinstance(check, dict):
        check = {key: value for key, value in check.items() if key not in _DESCRIPTIVE_KEYS}
    return frozenset(_scalar_texts(check))


def _rows_of(tables: Mapping[str, list[Row]], table: Table) -> list[Row]:
    # Rows without a check key (a snapshot's tombstone) belong to no check.
    return [row for row in tables.get(table.name, []) if row.get("check_key") is not None]


def _first_of_each_key(previous: list[StoredCheck]) -> list[StoredCheck]:
    # Stored keys are unique per case; should they repeat, the first holds the key.
    seen: set[str] = set()
    unique = []
    for key, check in previous:
        if key not in seen:
            seen.add(key)
            unique.append((key, check))
    return unique


def _lowest_free_key(check_type: str, given: set[str]) -> str:
    number = 1
    while (key := check_type if number == 1 else f"{check_type}#{number}") in given:
        number += 1
    return key


def _key_number(key: str) -> int:
    number = key.rpartition("#")[2]
    return int(number) if "#" in key and number.isdigit() else 1


def _by_index(indexed: tuple[Any, Any]) -> float:
    return indexed[0] if isinstance(indexed[0], int) else float("inf")


def _name_of(check: Any) -> str | None:
    name = check.get("name") if isinstance(check, dict) else None
    texts = list(_scalar_texts(name))
    return texts[0] if len(texts) == 1 else None


def _scalar_texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in _NOT_IDENTIFYING_KEYS:
                yield from _scalar_texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalar_texts(item)
    elif value is not None and not isinstance(value, bool):
        text = " ".join(str(value).split()).casefold()
        if text:
            yield text


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _unordered_check(check: Any) -> Any:
    if not isinstance(check, dict):
        return check
    return {
        key: sorted(value, key=_canonical) if key in _UNORDERED_LISTS and isinstance(value, list) else value
        for key, value in check.items()
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _vendor_values(row: Row, own_columns: frozenset[str], prefix: str) -> dict[str, Any]:
    """A row's vendor keys as the vendor named them: the transform's collision prefix and dlt's nesting undone."""
    values: dict[str, Any] = {}
    for column, value in row.items():
        if column == VENDOR_OVERFLOW and value is not None:  # keys past max_vendor_columns, as stored
            values.update(_vendor_values(json.loads(value) if isinstance(value, str) else value, own_columns, prefix))
        if column in own_columns or column.startswith("_dlt") or value is None:
            continue
        key = column.removeprefix(prefix) if column.removeprefix(prefix) in own_columns else column
        *parents, leaf = key.split("__")  # dlt stores {"verifier": {"name": ...}} as verifier__name
        target = values
        for parent in parents:
            nested = target.setdefault(parent, {})
            target = nested if isinstance(nested, dict) else {}
        target[leaf] = value
    return values
