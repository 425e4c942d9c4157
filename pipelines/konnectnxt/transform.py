"""Report-to-rows transform: one report's `data` into rows of cases, checks, entries, fields, documents."""

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from .check_identity import assign_check_keys
from .table_spec import TOMBSTONE_COLUMN
from .tables import CASES, CHECK_DOCUMENTS, CHECK_FIELDS, CHECKS, ENTRIES, TABLES
from .vendor_values import Fold, identity, storable, vendor_columns

Row = dict[str, Any]

_CASE_KEYS = {"reference_id", "generated_at", "status", "result", "candidate", "summary", "checks"}
# Vendor keys of a check that become our own columns or child tables; any other key is kept.
_CHECK_CONSUMED_KEYS = {"type", "name", "category", "status", "result", "completed_at", "remark"} | {
    table.report_items for table in TABLES.check_items
}

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


@dataclass(frozen=True)
class CaseTimes:
    """Our own timestamps of a case (not the vendor's), computed once by the polling core."""

    first_seen_at: datetime
    last_fetched_at: datetime
    first_completed_at: datetime | None = None
    last_completed_at: datetime | None = None


@dataclass
class ReportRows:
    """Every row one report contributes, by table name."""

    tables: dict[str, list[Row]]
    unparsed_completed_at: int = 0

    def __getitem__(self, table: str) -> list[Row]:
        return self.tables.get(table, [])

    @property
    def case(self) -> Row:
        return self.tables[CASES.name][0]


def report_rows(
    case_id: str, data: dict[str, Any], *, times: CaseTimes, report_timezone: tzinfo, fold: Fold = identity
) -> ReportRows:
    """Rows of all report tables for one fetched report (`data` of the envelope).

    `fold` is how the warehouse turns a key into a column name (dlt's naming convention): vendor keys
    are placed after folding, so that none lands on one of our columns or on another vendor key's.
    """
    checks_rows: list[Row] = []
    entries: list[Row] = []
    fields: list[Row] = []
    documents: list[Row] = []
    unparsed = 0
    checks = _as_list(data.get("checks"))
    for check, check_key in zip(checks, check_keys(checks)):
        check = check if isinstance(check, dict) else {"value": check}
        check_row = _check_row(case_id, check_key, check, report_timezone, fold)
        unparsed += check_row["completed_at_raw"] is not None and check_row["completed_at"] is None
        checks_rows.append(check_row)
        parent = {"case_id": case_id, "check_key": check_key}
        for index, entry in enumerate(_as_list(check.get("entries"))):
            entry = entry if isinstance(entry, dict) else {"value": entry}
            own = {**parent, "entry_index": index}
            entries.append({**own, **vendor_columns(entry, _taken(ENTRIES.own_columns), "entry_", fold)})
        for index, item in enumerate(_as_list(check.get("fields"))):
            item = item if isinstance(item, dict) else {"label": None, "value": item}
            own = {**parent, "field_index": index, "label": item.get("label"), "value": storable(item.get("value"))}
            extra = {k: v for k, v in item.items() if k not in ("label", "value")}
            fields.append({**own, **vendor_columns(extra, _taken(CHECK_FIELDS.own_columns), "field_", fold)})
        for index, item in enumerate(_as_list(check.get("documents"))):
            item = item if isinstance(item, dict) else {"url": item}
            own = {**parent, "document_index": index, "url": storable(item.get("url"))}
            extra = {k: v for k, v in item.items() if k != "url"}
            documents.append({**own, **vendor_columns(extra, _taken(CHECK_DOCUMENTS.own_columns), "document_", fold)})
    tables = {
        CASES.name: [case_row(case_id, data, times, fold)],
        CHECKS.name: checks_rows,
        ENTRIES.name: entries,
        CHECK_FIELDS.name: fields,
        CHECK_DOCUMENTS.name: documents,
    }
    return ReportRows(tables, unparsed_completed_at=unparsed)


def case_row(case_id: str, data: dict[str, Any], times: CaseTimes, fold: Fold = identity) -> Row:
    """The `cases` row: top-level report fields, candidate and summary flattened, and our own times.

    A `candidate` or `summary` that is not an object is kept whole in a column of that name.
    """
    candidate, summary = data.get("candidate"), data.get("summary")
    row: Row = {
        "case_id": case_id,
        "reference_id": _as_text(data.get("reference_id")),
        "status": storable(data.get("status")),
        "result": storable(data.get("result")),
        "candidate_name": None,
        "candidate_photo": None,
    }
    generated_at = data.get("generated_at")
    row["generated_at"] = parse_generated_at(generated_at) or storable(generated_at)
    row.update(asdict(times))
    taken = _taken(CASES.own_columns)
    extra = {k: v for k, v in data.items() if k not in _CASE_KEYS}
    if isinstance(candidate, dict):
        row["candidate_name"], row["candidate_photo"] = (
            storable(candidate.get("name")),
            storable(candidate.get("photo")),
        )
        others = {f"candidate_{k}": v for k, v in candidate.items() if k not in ("name", "photo")}
        row.update(vendor_columns(others, taken, "report_", fold))
    elif candidate is not None:
        extra = {"candidate": candidate, **extra}
    if isinstance(summary, dict):
        row.update(vendor_columns({f"summary_{k}": v for k, v in summary.items()}, taken, "report_", fold))
    elif summary is not None:
        extra = {"summary": summary, **extra}
    row.update(vendor_columns(extra, taken, "report_", fold))
    return row


def check_keys(checks: list[Any]) -> list[str]:
    """Keys of a first report: `check_type` for a type's first check in document order, then `#2`, `#3`...

    Later reports keep the stored keys (`check_identity.with_stored_keys`).
    """
    return assign_check_keys([], checks)


def _check_row(case_id: str, check_key: str, check: dict[str, Any], report_timezone: tzinfo, fold: Fold) -> Row:
    completed_at_raw = check.get("completed_at")
    row: Row = {
        "case_id": case_id,
        "check_key": check_key,
        "check_type": storable(check.get("type")),
        "check_name": storable(check.get("name")),
        "category": storable(check.get("category")),
        "status": storable(check.get("status")),
        "result": storable(check.get("result")),
        "completed_at": parse_completed_at(completed_at_raw, report_timezone),
        "completed_at_raw": _as_text(completed_at_raw),
        "remark": storable(check.get("remark")),
    }
    extra = {k: v for k, v in check.items() if k not in _CHECK_CONSUMED_KEYS}
    row.update(vendor_columns(extra, _taken(CHECKS.own_columns), "check_", fold))
    return row


def parse_completed_at(text: Any, report_timezone: tzinfo) -> datetime | None:
    """A check's `completed_at` text ("13 May, 2026, 11:02", in the report zone) as UTC, or None."""
    if not isinstance(text, str) or not text.strip():
        return None
    iso = _parse_iso(text)
    if iso is not None:
        return _in_utc(iso if iso.tzinfo else iso.replace(tzinfo=report_timezone))
    normalised = re.sub(r"\bsept\b", "Sep", re.sub(r"[\s,]+", " ", text).strip(), flags=re.IGNORECASE)
    for pattern in _COMPLETED_AT_FORMATS:
        try:
            local = datetime.strptime(normalised, pattern)
        except ValueError:
            continue
        return _in_utc(local.replace(tzinfo=report_timezone))
    return None


def parse_generated_at(text: Any) -> datetime | None:
    """The report's ISO 8601 `generated_at` as an aware UTC datetime, or None if not ISO."""
    moment = _parse_iso(text) if isinstance(text, str) else None
    if moment is None:
        return None
    return _in_utc(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _in_utc(moment: datetime) -> datetime | None:
    """`moment` in UTC, or None when that falls outside the years a timestamp column holds (1 to 9999)."""
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


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


def _taken(own_columns: frozenset[str]) -> set[str]:
    """Column names a vendor key may not take: ours, dlt's hard-delete marker."""
    return {*own_columns, TOMBSTONE_COLUMN}
