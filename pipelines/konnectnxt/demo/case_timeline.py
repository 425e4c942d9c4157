"""One fake case over time: when each check completes, how the case ends, and the report it has at a moment."""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .case_mix import CHECK_TYPES, remark_for, worst_result
from .names_and_places import (
    CANDIDATE_NAMES,
    CANDIDATES,
    CITIES,
    DEGREES,
    DESIGNATIONS,
    EMPLOYERS,
    INSTITUTES,
    STREETS,
    VERIFIERS,
)

IST = ZoneInfo("Asia/Kolkata")
PHOTO_BASE = "https://storage.googleapis.com/konnectnxt"
SUMMARY_RESULTS = ("clear", "minor_discrepancy", "discrepancy", "unable_to_verify", "not_available", "pending")
CHECKS_WITH_DOCUMENTS = ("criminal", "court_record", "education", "identity_pan")
CLEAR_REMARK_CHANCE = 0.3


@dataclass
class CheckPlan:
    """One check's life: when it completes (epoch seconds) and how it ends."""

    check_type: str
    name: str
    category: str
    done_at: float
    result: str
    entry_count: int = 0
    remark: str | None = None


@dataclass(frozen=True)
class CaseStage:
    """Where a case stands at a moment: its status and result, and each check's (status, result) in order."""

    status: str
    result: str
    checks: tuple[tuple[str, str], ...]


@dataclass
class CaseTimeline:
    """One case's life: when each check completes, how long the audit takes, how it ends."""

    case_id: str
    opened_at: float
    checks: list[CheckPlan]
    audit_seconds: float
    final_status: str = "completed"
    seed: int = 0
    candidate_name: str = CANDIDATE_NAMES[0]
    extra_keys: dict[str, Any] = field(default_factory=dict)

    @property
    def audit_at(self) -> float:
        return max(c.done_at for c in self.checks)

    @property
    def closed_at(self) -> float:
        return self.audit_at + self.audit_seconds

    def status_at(self, now: float) -> str:
        if now >= self.closed_at:
            return self.final_status
        return "in_audit" if now >= self.audit_at else "in_progress"

    def stage_at(self, now: float) -> CaseStage:
        """What a poll at `now` sees of the case's progress; the overall result is pending until all checks are done."""
        checks = tuple(("completed", c.result) if now >= c.done_at else ("in_progress", "pending") for c in self.checks)
        status = self.status_at(now)
        results = [result for _, result in checks]
        result = "pending" if status == "in_progress" or "pending" in results else worst_result(results)
        return CaseStage(status, result, checks)

    def report(self, now: float) -> dict[str, Any]:
        """The report `data` as the API would serve it at time `now` (epoch seconds)."""
        rng = random.Random(self.seed)
        stage = self.stage_at(now)
        checks = [
            _check_payload(plan, progress, random.Random(f"{self.case_id}/{index}"), self.candidate_name)
            for index, (plan, progress) in enumerate(zip(self.checks, stage.checks))
        ]
        results = [result for _, result in stage.checks]
        summary = {"total": len(checks), **{result: results.count(result) for result in SUMMARY_RESULTS}}
        data = {
            "reference_id": str(rng.randrange(10**15, 10**16)),
            "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
            "status": stage.status,
            "result": stage.result,
            "candidate": {
                "name": self.candidate_name,
                "photo": f"{PHOTO_BASE}/profile_pictures/{self.case_id[:12]}.png",
            },
            "summary": summary,
            "checks": checks,
        }
        data.update(self.extra_keys)
        return data


def check_plan(rng: random.Random, check_type: str, done_at: float, result: str) -> CheckPlan:
    """A check of a known type; a finding always carries the vendor's remark, a clear result sometimes."""
    kind = CHECK_TYPES[check_type]
    entry_count = rng.randint(*kind.entry_counts)
    remarked = result != "clear" or rng.random() < CLEAR_REMARK_CHANCE
    remark = remark_for(check_type, result) if remarked else None
    return CheckPlan(check_type, kind.name, kind.category, done_at, result, entry_count, remark)


def vendor_time_text(epoch: float) -> str:
    """A moment in the vendor's `completed_at` format, e.g. "13 May, 2026, 11:02" (IST)."""
    local = datetime.fromtimestamp(epoch, IST)
    return f"{local.day} {local:%b}, {local.year}, {local:%H:%M}"


def _check_payload(
    plan: CheckPlan, progress: tuple[str, str], rng: random.Random, candidate_name: str
) -> dict[str, Any]:
    """The check as served at its (status, result); `rng` is the check's own, so its details never change."""
    status, result = progress
    done = status == "completed"
    payload: dict[str, Any] = {
        "type": plan.check_type,
        "name": plan.name,
        "category": plan.category,
        "status": status,
        "result": result,
        "completed_at": vendor_time_text(plan.done_at) if done else None,
    }
    fields = _fields(plan, rng, candidate_name)
    if fields:
        payload["fields"] = fields
    page_count = rng.randint(1, 2)
    if done and plan.check_type in CHECKS_WITH_DOCUMENTS:
        payload["documents"] = [f"{PHOTO_BASE}/{plan.check_type}/page_{i + 1}.png" for i in range(page_count)]
    if done and plan.remark:
        payload["remark"] = plan.remark
    employers = rng.sample(EMPLOYERS, plan.entry_count)
    if plan.entry_count:
        payload["entries"] = [_entry(plan, index, done, rng, employers[index]) for index in range(plan.entry_count)]
    return payload


def _fields(plan: CheckPlan, rng: random.Random, candidate_name: str) -> list[dict[str, str]]:
    digits = f"{rng.randrange(10**4):04d}"
    if plan.check_type == "identity_aadhaar":
        birth = f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-{rng.randint(1975, 2003)}"
        return [
            {"label": "Name", "value": candidate_name},
            {"label": "Date of Birth", "value": birth},
            {"label": "Gender", "value": CANDIDATES.get(candidate_name, "Female")},
            {"label": "Aadhaar Number", "value": f"xxxxxxxx{digits}"},
        ]
    if plan.check_type == "identity_pan":
        name_on_pan = _with_initials(candidate_name) if plan.result == "minor_discrepancy" else candidate_name
        return [{"label": "Name", "value": name_on_pan}, {"label": "PAN Number", "value": f"xxxxxx{digits}X"}]
    if plan.check_type == "education":
        return [
            {"label": "Institute", "value": rng.choice(INSTITUTES)},
            {"label": "Degree", "value": rng.choice(DEGREES)},
            {"label": "Year of Passing", "value": str(rng.randint(2005, 2023))},
        ]
    return []


def _entry(plan: CheckPlan, index: int, check_done: bool, rng: random.Random, employer: str) -> dict[str, Any]:
    """One part of a multi-part check: all but the last part are done before the check is; the first carries
    the check's finding."""
    done = check_done or index < plan.entry_count - 1
    status = "completed" if done else "in_progress"
    result = (plan.result if index == 0 else "clear") if done else "pending"
    if plan.check_type == "employment":
        until = 2025 - 3 * index - rng.randint(0, 1)
        return {
            "employer": employer,
            "designation": rng.choice(DESIGNATIONS),
            "from": f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-{until - rng.randint(1, 2)}",
            "to": f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-{until}",
            "status": status,
            "result": result,
            "verifier": {"name": rng.choice(VERIFIERS), "designation": "HR Manager"},
            "documents": [f"{PHOTO_BASE}/employment/letter_{index + 1}.png"],
        }
    if plan.check_type == "address":
        city, state, pincode = rng.choice(CITIES)
        return {
            "address": f"{rng.randint(1, 400)}, {rng.choice(STREETS)}",
            "city": city,
            "state": state,
            "pincode": pincode,
            "address_type": "current" if index == 0 else "permanent",
            "status": status,
            "result": result,
        }
    if plan.check_type == "reference":
        return {
            "referee_name": rng.choice(CANDIDATE_NAMES),
            "relationship": rng.choice(["Manager", "Colleague"]),
            "phone": f"xxxxxx{rng.randrange(10**4):04d}",
            "status": status,
            "result": result,
            "feedback": "Reliable and punctual." if result in ("clear", "minor_discrepancy") else None,
        }
    return {
        "platform": rng.choice(["LinkedIn", "X", "Facebook"]),
        "status": status,
        "result": result,
        "flags": [] if result in ("clear", "pending") else ["inconsistent employment history"],
    }


def _with_initials(name: str) -> str:
    """A name as a PAN card may print it, given names as initials: "Priya Raghavan" as "P. Raghavan"."""
    *given, family = name.split()
    return " ".join([*(f"{part[0]}." for part in given), family])
