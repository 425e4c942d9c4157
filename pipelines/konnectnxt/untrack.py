"""Untracking cases (--untrack): no longer polled, everything stored about them kept.

A later `--case-id` tracks such a case again; `--forget` stays the way to erase one.
"""

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from . import case_registry
from .case_ids import canonical_case_id
from .config import load_configuration
from .destinations import destination_type
from .duckdb_file import duckdb_path
from .errors import CaseIdInputError
from .polling_state import read_cases
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
    case_ids = []
    for value in values:
        try:
            case_ids.append(canonical_case_id(value))
        except ValueError as exc:
            raise CaseIdInputError(f"--untrack: {exc}") from None
    case_ids = list(dict.fromkeys(case_ids))
    if destination_type(pipeline_name) == "duckdb" and not os.path.exists(duckdb_path(pipeline_name)):
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
            warehouse.load(case_registry([case.row() for case in changed]), log_level=logging.DEBUG)
    return report
