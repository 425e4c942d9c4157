"""Report-to-rows transform: one report's `data` into rows of cases, checks, entries, fields, documents."""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

Row = dict[str, Any]

_CASE_KEYS = {"reference_id", "generated_at", "status", "result", "candidate", "summary", "checks"}
_CASE_OWN_COLUMNS = {"case_id", "candidate_name", "candidate_photo", "first_seen_at", "last_fetched_at"}
# Vendor keys of a check that become our own columns or child tables; any other key is kept.
_CHECK_CONSUMED_KEYS = {
    "type",
    "name",
    "category",
    "status",
    "result",
    "completed_at",
    "remark",
    "fields",
    "documents",
    "entries",
}
_ENTRY_OWN_COLUMNS = {"case_id", "check_key", "entry_index"}
_FIELD_OWN_COLUMNS = {"case_id", "check_key", "field_index"}
_DOCUMENT_OWN_COLUMNS = {"case_id", "check_key", "document_index"}

# The documented form is "13 May, 2026, 11:02"; commas and spacing are normalised before matching.
_COMPLETED_AT_FORMATS = (
    "%d %b %Y %H:%M",
    "%d %B %Y %H:%M",
    "%d %b %Y %H:%M:%S",
    "%d %B %Y %H:%M:%S",
    "%d %b %Y %I:%M %p",
    "%d %B %Y %I:%M %p",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
)


@dataclass
class ReportRows:
    """Every row one report contributes, by table."""

    case: Row
    checks: list[Row] = field(default_factory=list)
    entries: list[Row] = field(default_factory=list)
    check_fields: list[Row] = field(default_factory=list)
    check_documents: list[Row] = field(default_factory=list)
    unparsed_completed_at: int = 0


def report_rows(
    case_id: str,
    data: dict[str, Any],
    *,
    fetched_at: datetime,
    first_seen_at: datetime | None,
    report_timezone: tzinfo,
) -> ReportRows:
    """Rows of all report tables for one fetched report (`data` of the envelope)."""
    rows = ReportRows(case=case_row(case_id, data, fetched_at, first_seen_at))
    checks = _as_list(data.get("checks"))
    for check, check_key in zip(checks, check_keys(checks)):
        check = check if isinstance(check, dict) else {"value": check}
        check_row = _check_row(case_id, check_key, check, report_timezone)
        if check_row["completed_at_raw"] is not None and check_row["completed_at"] is None:
            rows.unparsed_completed_at += 1
        rows.checks.append(check_row)
        parent = {"case_id": case_id, "check_key": check_key}
        for index, entry in enumerate(_as_list(check.get("entries"))):
            entry = entry if isinstance(entry, dict) else {"value": entry}
            own = {**parent, "entry_index": index}
            rows.entries.append({**own, **_prefixed(entry, _ENTRY_OWN_COLUMNS, "entry_")})
        for index, item in enumerate(_as_list(check.get("fields"))):
            item = item if isinstance(item, dict) else {"label": None, "value": item}
            own = {**parent, "field_index": index, "label": item.get("label"), "value": item.get("value")}
            extra = {k: v for k, v in item.items() if k not in ("label", "value")}
            rows.check_fields.append({**own, **_prefixed(extra, _FIELD_OWN_COLUMNS, "field_")})
        for index, item in enumerate(_as_list(check.get("documents"))):
            item = item if isinstance(item, dict) else {"url": item}
            own = {**parent, "document_index": index, "url": item.get("url")}
            extra = {k: v for k, v in item.items() if k != "url"}
            rows.check_documents.append({**own, **_prefixed(extra, _DOCUMENT_OWN_COLUMNS, "document_")})
    return rows


def case_row(case_id: str, data: dict[str, Any], fetched_at: datetime, first_seen_at: datetime | None) -> Row:
    """The `cases` row: top-level report fields, candidate and summary flattened."""
    candidate = data.get("candidate") if isinstance(data.get("candidate"), dict) else {}
    row: Row = {
        "case_id": case_id,
        "reference_id": _as_text(data.get("reference_id")),
        "status": data.get("status"),
        "result": data.get("result"),
        "candidate_name": candidate.get("name"),
        "candidate_photo": candidate.get("photo"),
    }
    for key, value in candidate.items():
        if key not in ("name", "photo"):
            row[f"candidate_{key}"] = value
    summary = data.get("summary")
    if isinstance(summary, dict):
        for key, value in summary.items():
            row[f"summary_{key}"] = value
    generated_at = data.get("generated_at")
    row["generated_at"] = parse_generated_at(generated_at) or generated_at
    row["first_seen_at"] = first_seen_at or fetched_at
    row["last_fetched_at"] = fetched_at
    extra = {k: v for k, v in data.items() if k not in _CASE_KEYS}
    row.update(_prefixed(extra, _CASE_OWN_COLUMNS | set(row), "report_"))
    return row


def check_keys(checks: list[Any]) -> list[str]:
    """`check_type` for a type's first check in document order, then `check_type#2`, `#3`..."""
    seen: dict[str, int] = {}
    keys = []
    for check in checks:
        check_type = check.get("type") if isinstance(check, dict) else None
        check_type = str(check_type) if check_type not in (None, "") else "unknown"
        seen[check_type] = seen.get(check_type, 0) + 1
        keys.append(check_type if seen[check_type] == 1 else f"{check_type}#{seen[check_type]}")
    return keys


def _check_row(case_id: str, check_key: str, check: dict[str, Any], report_timezone: tzinfo) -> Row:
    completed_at_raw = check.get("completed_at")
    row: Row = {
        "case_id": case_id,
        "check_key": check_key,
        "check_type": check.get("type"),
        "check_name": check.get("name"),
        "category": check.get("category"),
        "status": check.get("status"),
        "result": check.get("result"),
        "completed_at": parse_completed_at(completed_at_raw, report_timezone),
        "completed_at_raw": _as_text(completed_at_raw),
        "remark": check.get("remark"),
    }
    extra = {k: v for k, v in check.items() if k not in _CHECK_CONSUMED_KEYS}
    row.update(_prefixed(extra, set(row), "check_"))
    return row


def parse_completed_at(text: Any, report_timezone: tzinfo) -> datetime | None:
    """A check's `completed_at` text ("13 May, 2026, 11:02", in the report zone) as UTC, or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    iso = _parse_iso(text)
    if iso is not None:
        moment = iso if iso.tzinfo else iso.replace(tzinfo=report_timezone)
        return moment.astimezone(UTC)
    normalised = re.sub(r"\bsept\b", "Sep", re.sub(r"[\s,]+", " ", text).strip(), flags=re.IGNORECASE)
    for pattern in _COMPLETED_AT_FORMATS:
        try:
            local = datetime.strptime(normalised, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=report_timezone).astimezone(UTC)
    return None


def parse_generated_at(text: Any) -> datetime | None:
    """The report's ISO 8601 `generated_at` as an aware UTC datetime, or None if not ISO."""
    moment = _parse_iso(text) if isinstance(text, str) else None
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def report_fingerprint(data: dict[str, Any]) -> str:
    """A hash of the report that ignores `generated_at`, which moves on every fetch."""
    content = {k: v for k, v in data.items() if k != "generated_at"}
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _parse_iso(text: str) -> datetime | None:
    candidate = text.strip()
    if not re.match(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", candidate):
        return None
    try:
        return datetime.fromisoformat(candidate)
    except ValueError:
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _prefixed(values: dict[str, Any], reserved: set, prefix: str) -> Row:
    return {(f"{prefix}{k}" if k in reserved else k): v for k, v in values.items()}
