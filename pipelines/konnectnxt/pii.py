"""Personal data in report rows: keep it, replace it by a keyed hash, or drop it (store NULL)."""

import hashlib
import hmac
import re
from typing import Any

from .transform import ReportRows

PII_MODES = ("keep", "hash", "drop")
# Values the vendor already masked, like "xxxxxxxx8300", are not personal data any more: kept as sent.
_MASKED = re.compile(r"[xX*•#]{3,}[-\s]?[0-9A-Za-z]{0,6}")
_DATE = re.compile(r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}|\d{4}-\d{2}-\d{2}([T ].*)?")
# Entry keys whose values describe the check, not the person.
_ENTRY_KEYS_KEPT = {"case_id", "check_key", "entry_index", "status", "result"}


def pii_fingerprint(mode: str, salt: str | None) -> str:
    """What the stored rows were protected with: the mode, and for `hash` a fingerprint of the salt."""
    if mode != "hash":
        return mode
    return "hash:" + hmac.new(salt.encode(), b"bgv-warehouse pii salt", hashlib.sha256).hexdigest()[:12]


def protect_report_rows(rows: ReportRows, mode: str, salt: str | None) -> ReportRows:
    """Apply the PII mode to one report's rows, in place; `keep` changes nothing."""
    if mode == "keep":
        return rows
    protect = _protector(mode, salt)
    for column in ("candidate_name", "candidate_photo"):
        rows.case[column] = protect(rows.case.get(column))
    for check in rows.checks:
        check["remark"] = protect(check.get("remark"))
    for field in rows.check_fields:
        field["value"] = protect(field.get("value"))
    for document in rows.check_documents:
        document["url"] = protect(document.get("url"))
    for entry in rows.entries:
        for key, value in entry.items():
            if key not in _ENTRY_KEYS_KEPT:
                entry[key] = _protect_nested(value, protect)
    return rows


def _protector(mode: str, salt: str | None):
    def protect(value: Any) -> Any:
        if not isinstance(value, str) or not value or _MASKED.fullmatch(value) or _DATE.fullmatch(value.strip()):
            return value
        if mode == "drop":
            return None
        return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()

    return protect


def _protect_nested(value: Any, protect) -> Any:
    if isinstance(value, dict):
        return {k: v if k in ("status", "result") else _protect_nested(v, protect) for k, v in value.items()}
    if isinstance(value, list):
        return [_protect_nested(item, protect) for item in value]
    return protect(value)
