"""Untracking cases (--untrack): no longer polled, everything stored about them kept.

A later `--case-id` tracks such a case again; `--forget` stays the way to erase one.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .case_ids import flag_case_ids
from .config import load_configuration
from .duckdb_file import duckdb_path, no_duckdb_file_yet
from .polling_state import read_cases, store_tracked_cases
from .run_lock import run_lock
from .schedule import untracked
from .warehouse import lock_path, open_warehouse
from .warehouse_check import prepare_warehouse

logger = logging.getLogger("bgv")


@dataclass
class UntrackReport:
    """What --untrack did, per id."""

    pipeline_name: str
    destination: str
    untracked: list[str] = field(default_factory=list)
    already_untracked: list[str] = field(default_factory=list)
    not_tracked: list[str] = field(default_factory=list)
    no_warehouse: bool = False


def untrack_cases(pipeline_name: str, values: Sequence[str]) -> UntrackReport:
    """Stop polling the named cases; their rows in every table stay as they are."""
    configuration = load_configuration(require_api_key=False)
    case_ids = flag_case_ids(values, "--untrack")
    if no_duckdb_file_yet(pipeline_name):
        return UntrackReport(pipeline_name, duckdb_path(pipeline_name), not_tracked=case_ids, no_warehouse=True)
    with (
        run_lock(lock_path(pipeline_name)),
        open_warehouse(pipeline_name, configuration.lock_wait_seconds) as warehouse,
    ):
        prepare_warehouse(warehouse)
        report = UntrackReport(pipeline_name, warehouse.label)
        tracked = {case.case_id: case for case in read_cases(warehouse, case_ids)}
        now = datetime.now(UTC)
        changed = []
        for case_id in case_ids:
            case = tracked.get(case_id)
            if case is None:
                report.not_tracked.append(case_id)
            elif case.untracked_at is not None:
                report.already_untracked.append(case_id)
            else:
                changed.append(untracked(case, now))
                report.untracked.append(case_id)
        if changed:
            store_tracked_cases(warehouse, [case.row() for case in changed])
    return report
