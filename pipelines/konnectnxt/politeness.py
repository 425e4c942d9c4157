"""Reports a run received but discarded (key revoked mid-run): min_poll_interval must still hold for them.

Such a run leaves polling state unchanged on purpose, so the warehouse cannot remember these requests.
A small file beside the run lock does, for min_poll_interval seconds.
"""

import json
import os
from datetime import datetime, timedelta

from dlt.common.pipeline import get_dlt_pipelines_dir


def ledger_path(pipeline_name: str) -> str:
    return os.path.join(get_dlt_pipelines_dir(), f"{pipeline_name}.discarded_reports.json")


def remember_discarded_reports(path: str, reported_at: dict[str, datetime]) -> None:
    entries = {case_id: moment.isoformat() for case_id, moment in reported_at.items()}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(entries, handle)


def recently_discarded_reports(path: str, now: datetime, min_poll_interval: float) -> dict[str, datetime]:
    """Case id -> time of its discarded report, for reports newer than min_poll_interval."""
    try:
        with open(path, encoding="utf-8") as handle:
            entries = {case_id: datetime.fromisoformat(moment) for case_id, moment in json.load(handle).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}
    recent = {
        case_id: moment for case_id, moment in entries.items() if now - moment < timedelta(seconds=min_poll_interval)
    }
    if not recent:
        os.remove(path)
    return recent
