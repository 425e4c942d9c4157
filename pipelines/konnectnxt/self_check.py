"""The warehouse checks itself: the polling state against the report tables, before a run picks what is due.

Loads are not atomic across tables: a load can leave `tracked_cases` saying a case was fetched (it
has a report hash) with no `cases` row, and such a case, terminal, would never be fetched again. A
case like that is due again; what its history already holds is taken back from `case_status_history`,
so that the fetch that restores it neither invents a new first sighting nor repeats a history row.
Report-table rows of a case that is not tracked are reported, never deleted.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime

from .schedule import TrackedCase
from .settings import TERMINAL_STATUSES
from .tables import CASE_STATUS_HISTORY, TABLES, TRACKED_CASES
from .warehouse import Warehouse

_TERMINAL = ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))


@dataclass(frozen=True)
class RecoveredTimes:
    """What the history of a case without a stored report still says about it."""

    first_seen_at: datetime | None
    first_completed_at: datetime | None
    last_completed_at: datetime | None
    last_result: str | None


@dataclass
class SelfCheck:
    """What the run found: tracked cases without their stored report, report rows of untracked cases."""

    without_stored_report: dict[str, RecoveredTimes] = field(default_factory=dict)
    untracked: list[str] = field(default_factory=list)

    def restored(self, case: TrackedCase) -> TrackedCase:
        """`case` with the times its history still holds, for the fetch that restores its report."""
        recovered = self.without_stored_report.get(case.case_id)
        if recovered is None:
            return case
        return replace(
            case,
            first_seen_at=case.first_seen_at or recovered.first_seen_at,
            first_completed_at=case.first_completed_at or recovered.first_completed_at,
            last_completed_at=case.last_completed_at or recovered.last_completed_at,
            last_result=case.last_result or recovered.last_result,
        )

    def summary_line(self) -> str | None:
        parts = []
        if self.without_stored_report:
            parts.append(f"{len(self.without_stored_report)} case(s) had no stored report and are due again")
        if self.untracked:
            shown = ", ".join(self.untracked[:10]) + (
                f" (+{len(self.untracked) - 10} more)" if len(self.untracked) > 10 else ""
            )
            parts.append(f"{len(self.untracked)} case(s) in the report tables are not tracked: {shown}")
        return "self-check: " + "; ".join(parts) if parts else None


def check_stored_reports(warehouse: Warehouse) -> SelfCheck:
    """Two queries: tracked cases whose report was applied (a report hash) and have no `cases` row;
    report rows of untracked ids. A case whose reports were all kept out (shape changed) has none."""
    history = CASE_STATUS_HISTORY.name
    # An untracked case is never due: its missing report is not repaired until it is tracked again.
    tracked = " and t.untracked_at is null" if "untracked_at" in warehouse.existing_columns("tracked_cases") else ""
    missing = warehouse.query(
        f"""
        with missing as (
            select t.case_id from {{tracked_cases}} t
            where t.report_hash is not null and t.not_found_at is null{tracked}
                and not exists (select 1 from {{cases}} c where c.case_id = t.case_id)
        ),
        seen as (
            select h.case_id, h.status, h.result, h.observed_at,
                lower(trim(h.status)) in ({_TERMINAL}) as terminal,
                coalesce(lower(trim(lag(h.status) over (partition by h.case_id order by h.observed_at))), '')
                    in ({_TERMINAL}) as was_terminal,
                row_number() over (partition by h.case_id order by h.observed_at desc) as newest
            from {{{history}}} h join missing m on m.case_id = h.case_id
        )
        select m.case_id, min(s.observed_at),
            min(case when s.terminal then s.observed_at end),
            max(case when s.terminal and not s.was_terminal then s.observed_at end),
            max(case when s.newest = 1 then s.result end)
        from missing m left join seen s on s.case_id = m.case_id
        group by m.case_id
        order by m.case_id
        """
    )
    report_tables = [table.name for table in TABLES.from_report]
    every_case = " union ".join(f"select case_id from {{{name}}}" for name in report_tables)
    untracked = warehouse.query(
        f"select distinct r.case_id from ({every_case}) r "
        f"where not exists (select 1 from {{{TRACKED_CASES.name}}} t where t.case_id = r.case_id) order by 1"
    )
    return SelfCheck(
        {case_id: RecoveredTimes(*times) for case_id, *times in missing},
        [row[0] for row in untracked if row[0] is not None],
    )
