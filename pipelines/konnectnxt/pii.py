"""Personal data in rows: keep it, replace it by a keyed hash, or drop it (store NULL).

Which columns are personal is declared per table in the registry (`tables.py`); nothing here names a
table or a column.
"""

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

from .tables import TABLES

PII_MODES = ("keep", "hash", "drop")
# Values the vendor already masked, like "xxxxxxxx8300", are not personal data any more: kept as sent.
_MASKED = re.compile(r"[xX*•#]{3,}[-\s]?[0-9A-Za-z]{0,6}")
_DATE = re.compile(r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}|\d{4}-\d{2}-\d{2}([T ].*)?")
# Keys inside nested values (JSON columns) that describe the check, not the person.
_NESTED_KEYS_KEPT = ("status", "result")


def pii_fingerprint(mode: str, salt: str | None) -> str:
    """What the stored rows were protected with: the mode, and for `hash` a fingerprint of the salt."""
    if mode != "hash":
        return mode
    return "hash:" + hmac.new(salt.encode(), b"bgv-warehouse pii salt", hashlib.sha256).hexdigest()[:12]


def protect_rows(tables: dict[str, list[dict[str, Any]]], mode: str, salt: str | None) -> None:
    """Apply the PII mode, in place, to rows by table name; `keep` changes nothing."""
    if mode == "keep":
        return
    protect = _protector(mode, salt)
    for name, rows in tables.items():
        table = TABLES[name]
        for row in rows:
            for column, value in row.items():
                if table.personal.is_personal(column, table.own_columns):
                    row[column] = _protect_nested(value, protect)


def _protector(mode: str, salt: str | None) -> Callable[[Any], Any]:
    def protect(value: Any) -> Any:
        if not isinstance(value, str) or not value or _MASKED.fullmatch(value) or _DATE.fullmatch(value.strip()):
            return value
        if mode == "drop":
            return None
        return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()

    return protect


def _protect_nested(value: Any, protect: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: v if k in _NESTED_KEYS_KEPT else _protect_nested(v, protect) for k, v in value.items()}
    if isinstance(value, list):
        return [_protect_nested(item, protect) for item in value]
    return protect(value)
