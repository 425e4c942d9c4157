"""Realistic fake reports for the sandbox: deterministic per case id, progressing over time.

The demo's schedule, in seconds after the demo starts (the earliest `added_at` of its cases):

- demo cases 0-9 finished days before the start (9 completed, 1 rejected);
- demo case 10 + j (j = 0..39) finishes its checks in a row: one 960 s before it enters audit (for j < 11
  that is before the start), one 30 s before, and its last as it enters audit at 45 + 90 j (45 s to
  59 min 15 s); its audit lasts 570 s, so it closes at 615 + 90 j (10 min 15 s to 68 min 45 s).

So from 15 s to 59 min 15 s something changes every 30 s; then cases keep closing every 90 s until all
fifty are terminal after 68 min 45 s.
"""

import hashlib
import random
import uuid

from .case_mix import CHECK_TYPES, DEMO_FINDINGS, DEMO_REJECTED, SLOWEST_FIRST, pick_check_types, weighted_result
from .case_timeline import CaseTimeline, check_plan, vendor_time_text
from .names_and_places import CANDIDATE_NAMES

__all__ = ["CaseTimeline", "demo_case_ids", "demo_timelines", "timeline_for", "vendor_time_text"]

DAY = 86400.0
DEMO_CASE_COUNT = 50
DEMO_NAMESPACE = uuid.UUID("5b1f3a52-9e0c-4d2b-8f3e-6a7c1d2e9b40")
FINISHED_BEFORE_START = 10
FIRST_AUDIT_AFTER_START = 45.0
AUDIT_SPACING = 90.0
DEMO_AUDIT_SECONDS = 570.0
# The last three checks of a case still open at the start complete this long before it enters audit.
LAST_CHECKS_BEFORE_AUDIT = (960.0, 30.0, 0.0)


def timeline_for(case_id: str, opened_at: float, span_seconds: float, final_status: str = "completed") -> CaseTimeline:
    """A case whose checks complete at seeded points within `span_seconds` after `opened_at`."""
    rng = random.Random(_seed(case_id))
    name = rng.choice(CANDIDATE_NAMES)
    plans = []
    for check_type in pick_check_types(rng):
        done_at = opened_at + rng.uniform(0.1, 1.0) * span_seconds
        plans.append(check_plan(rng, check_type, done_at, weighted_result(rng, check_type)))
    return CaseTimeline(
        case_id, opened_at, plans, span_seconds * 0.2, final_status, seed=_seed(case_id), candidate_name=name
    )


def demo_case_ids() -> list[str]:
    """The 50 demo case ids, stable across runs and machines."""
    return [uuid.uuid5(DEMO_NAMESPACE, f"demo-case-{i}").hex for i in range(DEMO_CASE_COUNT)]


def demo_timelines(demo_started_at: float) -> dict[str, CaseTimeline]:
    """Demo cases as a pure function of id and demo start, on the schedule of this module's docstring."""
    return {case_id: _demo_timeline(index, case_id, demo_started_at) for index, case_id in enumerate(demo_case_ids())}


def _demo_timeline(index: int, case_id: str, demo_started_at: float) -> CaseTimeline:
    """Every check completes a type-typical number of days after the case opened (see `CHECK_TYPES`)."""
    rng = random.Random(_seed(case_id))
    findings = DEMO_FINDINGS.get(index, {})
    check_types = pick_check_types(rng, required=findings)
    days_after_opening = {t: rng.uniform(*CHECK_TYPES[t].turnaround_days) for t in check_types}
    if index < FINISHED_BEFORE_START:
        audit_seconds = rng.uniform(1, 2) * DAY
        closed_days_ago = rng.uniform(1, 20)
        opened_at = demo_started_at - (max(days_after_opening.values()) + closed_days_ago) * DAY - audit_seconds
        done_at = {t: opened_at + days * DAY for t, days in days_after_opening.items()}
    else:
        audit_seconds = DEMO_AUDIT_SECONDS
        audit_at = demo_started_at + FIRST_AUDIT_AFTER_START + (index - FINISHED_BEFORE_START) * AUDIT_SPACING
        # The three slowest kinds of check present (address always is one) finish last, in a seeded order.
        last_checks = rng.sample([t for t in SLOWEST_FIRST if t in check_types][:3], 3)
        # They complete within 16 minutes of each other, so they share a number of days that suits all three
        # (0.1 day above the lowest, so that the one 960 s early is in range too); the others finish at least
        # half a day earlier.
        lowest = max(CHECK_TYPES[t].turnaround_days[0] for t in last_checks)
        highest = min(CHECK_TYPES[t].turnaround_days[1] for t in last_checks)
        days_to_audit = rng.uniform(lowest + 0.1, highest)
        opened_at = audit_at - days_to_audit * DAY
        done_at = {t: opened_at + min(days, days_to_audit - 0.5) * DAY for t, days in days_after_opening.items()}
        done_at.update({t: audit_at - before for t, before in zip(last_checks, LAST_CHECKS_BEFORE_AUDIT)})
    plans = [check_plan(rng, t, done_at[t], findings.get(t, "clear")) for t in check_types]
    final_status = "rejected" if index in DEMO_REJECTED else "completed"
    return CaseTimeline(
        case_id,
        opened_at,
        plans,
        audit_seconds,
        final_status,
        seed=_seed(case_id),
        candidate_name=CANDIDATE_NAMES[index],
    )


def _seed(case_id: str) -> int:
    return int(hashlib.sha256(case_id.encode()).hexdigest()[:12], 16)
