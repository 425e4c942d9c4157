"""The polling state kept in the warehouse: reads (tracked cases, what scheduling needs, counts) and the
small writes outside a run's fetch (new ids, comebacks, corrected poll times, untracking)."""

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from dlt.destinations.exceptions import DatabaseUndefinedRelation

from . import case_registry
from .check_identity import StoredCheck, checks_from_rows
from .schedule import FROM_CASES, TRACKED_CASE_COLUMNS, TrackedCase
from .settings import TERMINAL_STATUSES
from .table_spec import CASE_ID
from .tables import CASES, CHECK_DOCUMENTS, CHECK_FIELDS, CHECKS, ENTRIES, TABLES, TRACKED_CASES
from .warehouse import Warehouse

# An open case of `tracked_cases t`: terminal in any case and spacing, as schedule.is_terminal decides.
OPEN_CASE = "(t.last_status is null or lower(trim(t.last_status)) not in ({}))".format(
    ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))
)


def store_tracked_cases(warehouse: Warehouse, rows: list[dict]) -> None:
    """Replace these cases' `tracked_cases` rows: by SQL when they are few, else as a load package."""
    warehouse.write(TRACKED_CASES.name, rows, case_registry(rows), key=CASE_ID)


def known_case_ids(warehouse: Warehouse) -> set[str]:
    return {row[0] for row in warehouse.query("select case_id from {tracked_cases}")}


def read_tracked_cases(
    warehouse: Warehouse,
    include_terminal: bool,
    pii_mode: str = "keep",
    recheck_terminal_after: Sequence[float] = (),
    now: datetime | None = None,
    also: Collection[str] = (),
) -> list[TrackedCase]:
    """Pollable tracked cases (not marked not found) with what scheduling needs from `cases`.

    Terminal cases come only when asked for, when their rows were stored under another PII mode, when
    one of the `recheck_terminal_after` times may have passed unanswered (schedule.recheck_due decides),
    or when named in `also`.
    """
    tracked_columns = warehouse.existing_columns(TRACKED_CASES.name)
    if include_terminal:
        return _tracked_cases_where(warehouse, "t.not_found_at is null", tracked_columns)
    stored_mode = "coalesce(t.pii_mode, 'keep')" if "pii_mode" in tracked_columns else "'keep'"
    quoted = pii_mode.replace("'", "''")
    wanted = [OPEN_CASE, f"{stored_mode} <> '{quoted}'"]
    if also:  # ids are validated 32-hex strings, safe to inline
        wanted.append("t.case_id in ({})".format(", ".join(f"'{case_id}'" for case_id in sorted(also))))
    params: list = []
    in_cases = warehouse.existing_columns(CASES.name)
    if recheck_terminal_after and now is not None and {"first_completed_at", "last_fetched_at"} <= in_cases:
        seen = "t.terminal_seen_at, " if "terminal_seen_at" in tracked_columns else ""
        reported = (
            "coalesce(t.last_report_at, c.last_fetched_at)"
            if "last_report_at" in tracked_columns
            else "c.last_fetched_at"
        )
        since = f"coalesce({seen}c.first_completed_at, c.last_fetched_at)"
        # A superset of the cases a re-check is due for: past the first time, not answered since the last.
        wanted.append(f"({since} <= %s and ({reported} is null or {reported} < {since} + %s))")
        params = [now - timedelta(seconds=min(recheck_terminal_after)), timedelta(seconds=max(recheck_terminal_after))]
    where = f"t.not_found_at is null and ({' or '.join(wanted)})"
    return _tracked_cases_where(warehouse, where, tracked_columns, params)


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


def _tracked_cases_where(
    warehouse: Warehouse, where: str, existing: set[str] | None = None, params: Sequence = ()
) -> list[TrackedCase]:
    existing = existing if existing is not None else warehouse.existing_columns(TRACKED_CASES.name)
    tracked_columns = ", ".join(f"t.{name}" if name in existing else "null" for name in TRACKED_CASE_COLUMNS)
    in_cases = warehouse.existing_columns(CASES.name)
    from_cases = ", ".join(f"c.{column}" if column in in_cases else "null" for column in FROM_CASES.values())
    joined = (
        f"select {tracked_columns}, {from_cases} "
        f"from {{tracked_cases}} t left join {{cases}} c on c.case_id = t.case_id where {where}"
    )
    try:
        rows = warehouse.query(joined, *params, missing_ok=False)
    except DatabaseUndefinedRelation:
        only_tracked = f"select {tracked_columns} from {{tracked_cases}} t where {where}"
        rows = [(*row, *[None] * len(FROM_CASES)) for row in warehouse.query(only_tracked)]
    return [TrackedCase(*row) for row in rows]


# The newest history row of each check of cases that have no `cases` row (their report rows are lost).
_LAST_RECORDED_CHECKS = (
    "select case_id, check_key, check_type, status, result from (select h.case_id, h.check_key, h.check_type, "
    "h.status, h.result, row_number() over (partition by h.case_id, h.check_key order by h.observed_at desc) "
    "as newest from {{check_status_history}} h where h.case_id in ({listed}) "
    "and not exists (select 1 from {{cases}} c where c.case_id = h.case_id)) latest where newest = 1"
)


def stored_checks(warehouse: Warehouse, case_ids: list[str]) -> dict[str, list[StoredCheck]]:
    """case_id -> the checks of its stored snapshot with their keys, for check identity and status history.

    One query per table (and per thousand ids), whatever the number of cases. A case whose stored
    report is missing (no `cases` row: see self_check.py) takes what its `check_status_history` last
    said, so that restoring the report repeats no history row.
    """
    rows: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for table in (CHECKS, ENTRIES, CHECK_FIELDS, CHECK_DOCUMENTS):
        columns = sorted(warehouse.existing_columns(table.name))
        if "case_id" not in columns or "check_key" not in columns:
            continue
        selected = ", ".join(warehouse.client.capabilities.escape_identifier(column) for column in columns)
        for start in range(0, len(case_ids), 1000):
            # Ids are validated 32-hex strings, safe to inline.
            listed = ", ".join(f"'{case_id}'" for case_id in case_ids[start : start + 1000])
            for values in warehouse.query(f"select {selected} from {{{table.name}}} where case_id in ({listed})"):
                row = dict(zip(columns, values, strict=True))
                rows[row["case_id"]][table.name].append(row)
    for start in range(0, len(case_ids), 1000):
        listed = ", ".join(f"'{case_id}'" for case_id in case_ids[start : start + 1000])
        for case_id, check_key, check_type, status, result in warehouse.query(
            _LAST_RECORDED_CHECKS.format(listed=listed)
        ):
            rows[case_id][CHECKS.name].append(
                {
                    "case_id": case_id,
                    "check_key": check_key,
                    "check_type": check_type,
                    "status": status,
                    "result": result,
                }
            )
    return {case_id: checks_from_rows(tables) for case_id, tables in rows.items()}


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
