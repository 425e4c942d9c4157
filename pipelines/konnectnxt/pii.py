"""Personal data in rows: keep it, replace it by a keyed hash, or drop it (store NULL).

Which columns are personal is declared per table in the registry (`tables.py`); nothing here names a
table or a column.
"""

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Any

from .table_spec import NO_PERSONAL_DATA, Table
from .tables import CASES, CHECKS, TABLES

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
                if column in table.personal.reports and isinstance(value, dict):
                    row[column] = protect_report(value, mode, salt)
                elif table.personal.is_personal(column, table.own_columns):
                    row[column] = _protect_nested(value, protect)


def protect_report(data: dict[str, Any], mode: str, salt: str | None) -> dict[str, Any]:
    """A copy of a raw report with its personal values protected exactly as the report tables store them.

    The places follow the tables' declarations: the case's personal keys (the candidate), each check's
    personal keys (its remark), and the personal keys of each list a check holds (`report_items`).
    """
    if mode == "keep":
        return data
    protect = _protector(mode, salt)
    report = {
        key: _protect_nested(value, protect) if CASES.personal.is_personal(key, CASES.own_columns) else value
        for key, value in data.items()
    }
    if isinstance(report.get("checks"), list):
        report["checks"] = [_protected_check(check, protect) for check in report["checks"]]
    return report


def _protected_check(check: Any, protect: Callable[[Any], Any]) -> Any:
    if not isinstance(check, dict):
        return check
    check = {key: protect(value) if key in CHECKS.personal.report_keys() else value for key, value in check.items()}
    for table in TABLES.check_items:
        if isinstance(check.get(table.report_items), list):
            check[table.report_items] = [_protected_item(item, table, protect) for item in check[table.report_items]]
    return check


def _protected_item(item: Any, table: Table, protect: Callable[[Any], Any]) -> Any:
    """One entry, field or document as its table protects it; a bare value stands for the item's value."""
    if table.personal == NO_PERSONAL_DATA:
        return item
    if not isinstance(item, dict):
        return _protect_nested(item, protect)
    if table.personal.every_vendor_value:
        return {
            key: value if key in table.personal.kept else _protect_nested(value, protect) for key, value in item.items()
        }
    personal = table.personal.report_keys()
    return {key: protect(value) if key in personal else value for key, value in item.items()}


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
