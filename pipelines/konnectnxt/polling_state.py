"""Reads of the polling state kept in the warehouse: tracked cases, what scheduling needs, counts."""

from datetime import datetime

from dlt.destinations.exceptions import DatabaseUndefinedRelation

from .schedule import FROM_CASES, TRACKED_CASE_COLUMNS, TrackedCase
from .settings import TERMINAL_STATUSES
from .tables import CASES, TABLES, TRACKED_CASES
from .warehouse import Warehouse

# An open case of `tracked_cases t`: terminal in any case and spacing, as schedule.is_terminal decides.
OPEN_CASE = "(t.last_status is null or lower(trim(t.last_status)) not in ({}))".format(
    ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))
)


def known_case_ids(warehouse: Warehouse) -> set[str]:
    return {row[0] for row in warehouse.query("select case_id from {tracked_cases}")}


def read_tracked_cases(warehouse: Warehouse, include_terminal: bool, pii_mode: str = "keep") -> list[TrackedCase]:
    """Pollable tracked cases (not marked not found) with what scheduling needs from `cases`.

    Terminal cases come only when asked for, or when their rows were stored under another PII mode.
    """
    tracked_columns = warehouse.existing_columns(TRACKED_CASES.name)
    if include_terminal:
        return _tracked_cases_where(warehouse, "t.not_found_at is null", tracked_columns)
    stored_mode = "coalesce(t.pii_mode, 'keep')" if "pii_mode" in tracked_columns else "'keep'"
    quoted = pii_mode.replace("'", "''")
    where = f"t.not_found_at is null and ({OPEN_CASE} or {stored_mode} <> '{quoted}')"
    return _tracked_cases_where(warehouse, where, tracked_columns)


def read_not_found_cases(warehouse: Warehouse) -> list[TrackedCase]:
    return _tracked_cases_where(warehouse, "t.not_found_at is not null")


def read_untracked_cases(warehouse: Warehouse) -> list[TrackedCase]:
    """Cases --untrack stopped polling."""
    return _tracked_cases_where(warehouse, "t.untracked_at is not null")


def read_cases(warehouse: Warehouse, case_ids: list[str]) -> list[TrackedCase]:
    """The tracked cases among `case_ids` (validated 32-hex ids), whatever their state."""
    if not case_ids:
        return []
    listed = ", ".join(f"'{case_id}'" for case_id in case_ids)
    return _tracked_cases_where(warehouse, f"t.case_id in ({listed})")


def _tracked_cases_where(warehouse: Warehouse, where: str, existing: set[str] | None = None) -> list[TrackedCase]:
    existing = existing if existing is not None else warehouse.existing_columns(TRACKED_CASES.name)
    tracked_columns = ", ".join(f"t.{name}" if name in existing else "null" for name in TRACKED_CASE_COLUMNS)
    in_cases = warehouse.existing_columns(CASES.name)
    from_cases = ", ".join(f"c.{column}" if column in in_cases else "null" for column in FROM_CASES.values())
    joined = (
        f"select {tracked_columns}, {from_cases} "
        f"from {{tracked_cases}} t left join {{cases}} c on c.case_id = t.case_id where {where}"
    )
    try:
        rows = warehouse.query(joined, missing_ok=False)
    except DatabaseUndefinedRelation:
        only_tracked = f"select {tracked_columns} from {{tracked_cases}} t where {where}"
        rows = [(*row, *[None] * len(FROM_CASES)) for row in warehouse.query(only_tracked)]
    return [TrackedCase(*row) for row in rows]


def check_statuses(warehouse: Warehouse, case_ids: list[str]) -> dict[str, dict[str, tuple]]:
    """case_id -> check_key -> (status, result) of the stored snapshot, for status history."""
    statuses: dict[str, dict[str, tuple]] = {}
    for start in range(0, len(case_ids), 1000):
        # Ids are validated 32-hex strings, safe to inline.
        listed = ", ".join(f"'{case_id}'" for case_id in case_ids[start : start + 1000])
        rows = warehouse.query(f"select case_id, check_key, status, result from {{checks}} where case_id in ({listed})")
        for case_id, check_key, status, result in rows:
            statuses.setdefault(case_id, {})[check_key] = (status, result)
    return statuses


def tracked_case_counts(warehouse: Warehouse) -> dict[str, int]:
    """How many cases are tracked, open (pollable), marked not found and untracked (--untrack)."""
    rows = warehouse.query(
        f"select count(*), count(*) filter (where t.not_found_at is null and t.untracked_at is null and {OPEN_CASE}), "
        "count(*) filter (where t.not_found_at is not null), count(*) filter (where t.untracked_at is not null) "
        "from {tracked_cases} t",
    )
    total, open_cases, not_found, untracked_cases = rows[0] if rows else (0, 0, 0, 0)
    return {"tracked": total, "open": open_cases, "not_found": not_found, "untracked": untracked_cases}


def earliest_added_at(warehouse: Warehouse, source: str) -> datetime | None:
    rows = warehouse.query("select min(added_at) from {tracked_cases} where source = %s", source)
    return rows[0][0] if rows else None


def table_row_counts(warehouse: Warehouse) -> dict[str, int]:
    """Rows per table that holds case data, in the registry's order."""
    counts = {}
    for table in TABLES.per_case:
        rows = warehouse.query(f"select count(*) from {{{table.name}}}")
        counts[table.name] = rows[0][0] if rows else 0
    return counts
