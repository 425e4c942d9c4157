"""Vendor keys and values on their way into columns: never onto another column, never changed.

Keys: dlt folds every key into a column name (case, spaces, camelCase, non-ASCII), so `CaseID`,
`Case ID` and `case_id` are one column to it. Keys are compared after that folding: our own columns
always win; a vendor key whose column is taken, by one of ours or by an earlier key of the same
object, is stored as `<prefix><column>` (`entry_case_id`), then `<prefix><column>_2`, `_3`... in the
report's key order, so no value is dropped or lands on another's column.

Values: what a column type cannot hold is kept as text rather than failing the case: integers
beyond 64 bits, NaN and infinities, JSON nested deeper than dlt serialises or holding such numbers.
"""

import json
import math
from collections.abc import Callable
from typing import Any

Fold = Callable[[str], str]
INT64 = range(-(2**63), 2**63)
# dlt serialises JSON columns with orjson, which refuses more nesting than this.
MAX_JSON_DEPTH = 200


def identity(key: str) -> str:
    return key


def vendor_columns(values: dict[Any, Any], taken: set[str], prefix: str, fold: Fold = identity) -> dict[str, Any]:
    """`values` keyed by the column each will have; adds the names it gives to `taken`."""
    columns: dict[str, Any] = {}
    for key, value in values.items():
        name = fold(str(key))
        if name in taken or name.startswith("_dlt"):
            base = fold(prefix + name)
            name, number = base, 2
            while name in taken:
                name, number = f"{base}_{number}", number + 1
        taken.add(name)
        columns[name] = storable(value)
    return columns


def storable(value: Any) -> Any:
    """`value` as it can be stored: unchanged, or as text when no column type holds it as it is."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if value in INT64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else json.dumps(value)
    if isinstance(value, (dict, list)):
        return value if _json_storable(value, 0) else json.dumps(value, ensure_ascii=False)
    return value


def _json_storable(value: Any, depth: int) -> bool:
    if depth > MAX_JSON_DEPTH:
        return False
    if isinstance(value, dict):
        return all(_json_storable(item, depth + 1) for item in value.values())
    if isinstance(value, list):
        return all(_json_storable(item, depth + 1) for item in value)
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in INT64
    if isinstance(value, float):
        return math.isfinite(value)
    return True
