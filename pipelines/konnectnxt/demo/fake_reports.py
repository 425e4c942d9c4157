"""Realistic fake reports for the sandbox: deterministic per case id, progressing over time."""

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
RESULTS_BY_SEVERITY = ["discrepancy", "minor_discrepancy", "unable_to_verify", "not_available", "clear"]
RESULT_WEIGHTS = {"clear": 70, "minor_discrepancy": 10, "discrepancy": 8, "unable_to_verify": 6, "not_available": 6}
DEMO_CASE_COUNT = 50
DEMO_NAMESPACE = uuid.UUID("5b1f3a52-9e0c-4d2b-8f3e-6a7c1d2e9b40")

CANDIDATE_NAMES = [
    "Vivek Patel",
    "Priya Raghavan",
    "Aarav Sharma",
    "Zoë Fernandes",
    "Siddharth Iyer",
    "José D'Souza",
    "Ananya Rao",
    "Kavya Nair",
    "Rohan Mehta",
    "Meera Krishnan",
    "Arjun Reddy",
    "Saanvi Gupta",
    "Vihaan Joshi",
    "Diya Banerjee",
    "Ishaan Chatterjee",
    "Anaïs Pereira",
    "Nandini Subramaniam",
    "அருண் குமார்",
    "राहुल वर्मा",
    "Fatima Sheikh",
    "Gurpreet Singh Dhillon",
    "Lakshmi Venkataraman",
]
EMPLOYERS = [
    "Infosys Ltd",
    "Tata Consultancy Services",
    "Wipro Technologies",
    "Zomato",
    "Flipkart",
    "HCL Technologies",
    "Café Coffee Day",
    "Bharat Electronics",
    "Swiggy",
    "Mahindra & Mahindra",
]
CITIES = [
    ("Bengaluru", "Karnataka", "560034"),
    ("Mumbai", "Maharashtra", "400050"),
    ("Chennai", "Tamil Nadu", "600017"),
    ("Hyderabad", "Telangana", "500081"),
    ("Pune", "Maharashtra", "411014"),
    ("Kolkata", "West Bengal", "700091"),
]
PHOTO_BASE = "https://storage.googleapis.com/konnectnxt"

CHECK_CATALOG = [
    ("identity_aadhaar", "Aadhaar Verification", "Identity"),
    ("identity_pan", "PAN Verification", "Identity"),
    ("criminal", "Criminal Record Check", "Criminal & Compliance"),
    ("court_record", "Court Record Check", "Criminal & Compliance"),
    ("employment", "Employment Verification", "Employment"),
    ("education", "Education Verification", "Education"),
    ("address", "Address Verification", "Address"),
    ("reference", "Reference Check", "Reference"),
    ("social_media", "Social Media Check", "Social/Professional"),
    ("drug_test", "Drug Test", "Health"),
]
REMARKS = {
    "clear": "Verified with no adverse findings.",
    "minor_discrepancy": "Minor mismatch in dates; not material.",
    "discrepancy": "Details provided by the candidate do not match records.",
    "unable_to_verify": "Source did not respond after three attempts.",
    "not_available": "Insufficient information provided to run the check.",
}


@dataclass
class CheckPlan:
    check_type: str
    name: str
    category: str
    done_at: float
    result: str
    entry_count: int = 0


@dataclass
class CaseTimeline:
    """One case's life: when each check completes, how long the audit takes, how it ends."""

    case_id: str
    opened_at: float
    checks: list[CheckPlan]
    audit_seconds: float
    final_status: str = "completed"
    seed: int = 0
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

    def report(self, now: float) -> dict[str, Any]:
        """The report `data` as the API would serve it at time `now` (epoch seconds)."""
        rng = random.Random(self.seed)
        name = rng.choice(CANDIDATE_NAMES)
        checks = [_check_payload(plan, now, rng, name) for plan in self.checks]
        results = [c["result"] for c in checks]
        status = self.status_at(now)
        summary = {"total": len(checks)}
        for result in ["clear", "minor_discrepancy", "discrepancy", "unable_to_verify", "not_available", "pending"]:
            summary[result] = results.count(result)
        overall = "pending" if status == "in_progress" or "pending" in results else _worst(results)
        data = {
            "reference_id": str(rng.randrange(10**15, 10**16)),
            "generated_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
            "status": status,
            "result": overall,
            "candidate": {"name": name, "photo": f"{PHOTO_BASE}/profile_pictures/{self.case_id[:12]}.png"},
            "summary": summary,
            "checks": checks,
        }
        data.update(self.extra_keys)
        return data


def timeline_for(case_id: str, opened_at: float, span_seconds: float, final_status: str = "completed") -> CaseTimeline:
    """A case whose checks complete at seeded points within `span_seconds` after `opened_at`."""
    rng = random.Random(_seed(case_id))
    plans = []
    for check_type, name, category in _pick_checks(rng):
        result = rng.choices(list(RESULT_WEIGHTS), weights=list(RESULT_WEIGHTS.values()))[0]
        entry_count = rng.randint(1, 3) if check_type in ("employment", "address", "reference", "social_media") else 0
        plans.append(
            CheckPlan(check_type, name, category, opened_at + rng.uniform(0.1, 1.0) * span_seconds, result, entry_count)
        )
    return CaseTimeline(
        case_id, opened_at, plans, audit_seconds=span_seconds * 0.2, final_status=final_status, seed=_seed(case_id)
    )


def demo_case_ids() -> list[str]:
    """The 50 demo case ids, stable across runs and machines."""
    return [uuid.uuid5(DEMO_NAMESPACE, f"demo-case-{i}").hex for i in range(DEMO_CASE_COUNT)]


def demo_timelines(demo_started_at: float) -> dict[str, CaseTimeline]:
    """Demo cases as a pure function of id and demo start.

    Ten are finished before the demo starts (one rejected). For the other forty, case j's last check
    completes 10 + 10*j seconds after the start and its audit lasts 60 s, so every 60 s window of the
    first six minutes holds at least five status changes.
    """
    timelines = {}
    for index, case_id in enumerate(demo_case_ids()):
        rng = random.Random(_seed(case_id))
        if index < 10:
            opened_at = demo_started_at - rng.uniform(3, 20) * 86400
            timeline = timeline_for(
                case_id, opened_at, span_seconds=2 * 86400, final_status="rejected" if index == 9 else "completed"
            )
        else:
            j = index - 10
            opened_at = demo_started_at - rng.uniform(1, 10) * 86400
            audit_at = demo_started_at + 10 + 10 * j
            timeline = timeline_for(case_id, opened_at, span_seconds=audit_at - opened_at)
            timeline.checks[-1].done_at = audit_at
            for plan in timeline.checks[:-1]:
                plan.done_at = min(plan.done_at, audit_at)
            timeline.audit_seconds = 60
        timelines[case_id] = timeline
    return timelines


def _pick_checks(rng: random.Random) -> list[tuple]:
    count = rng.randint(3, 6)
    picked = rng.sample(CHECK_CATALOG, count)
    if rng.random() < 0.3:
        picked.append(next(c for c in CHECK_CATALOG if c[0] == "employment"))
    return picked


def _check_payload(plan: CheckPlan, now: float, rng: random.Random, candidate_name: str) -> dict[str, Any]:
    done = now >= plan.done_at
    result = plan.result if done else "pending"
    payload: dict[str, Any] = {
        "type": plan.check_type,
        "name": plan.name,
        "category": plan.category,
        "status": "completed" if done else "in_progress",
        "result": result,
        "completed_at": vendor_time_text(plan.done_at) if done else None,
    }
    digits = f"{rng.randrange(10**4):04d}"
    if plan.check_type == "identity_aadhaar":
        payload["fields"] = [
            {"label": "Name", "value": candidate_name},
            {
                "label": "Date of Birth",
                "value": f"{rng.randint(1, 28):02d}-{rng.randint(1, 12):02d}-{rng.randint(1975, 2003)}",
            },
            {"label": "Gender", "value": rng.choice(["Male", "Female"])},
            {"label": "Aadhaar Number", "value": f"xxxxxxxx{digits}"},
        ]
    elif plan.check_type == "identity_pan":
        payload["fields"] = [
            {"label": "Name", "value": candidate_name},
            {"label": "PAN Number", "value": f"xxxxxx{digits}X"},
        ]
    elif plan.check_type == "education":
        payload["fields"] = [
            {"label": "Institute", "value": rng.choice(["IIT Madras", "Anna University", "University of Mumbai"])},
            {"label": "Degree", "value": rng.choice(["B.Tech", "B.Com", "MBA"])},
            {"label": "Year of Passing", "value": str(rng.randint(1998, 2023))},
        ]
    if plan.check_type in ("criminal", "court_record", "education", "identity_pan") and done:
        payload["documents"] = [f"{PHOTO_BASE}/{plan.check_type}/page_{i + 1}.png" for i in range(rng.randint(1, 2))]
    if done and (result != "clear" or rng.random() < 0.3):
        payload["remark"] = REMARKS[result]
    if plan.entry_count:
        payload["entries"] = [_entry(plan, index, done, rng) for index in range(plan.entry_count)]
    return payload


def _entry(plan: CheckPlan, index: int, done: bool, rng: random.Random) -> dict[str, Any]:
    status = "completed" if done else rng.choice(["in_progress", "completed"])
    result = (plan.result if index == 0 else "clear") if status == "completed" else "pending"
    if plan.check_type == "employment":
        start = rng.randint(2012, 2020)
        return {
            "employer": rng.choice(EMPLOYERS),
            "designation": rng.choice(["Software Engineer", "Analyst", "Team Lead"]),
            "from": f"01-0{rng.randint(1, 9)}-{start}",
            "to": f"30-0{rng.randint(1, 9)}-{start + rng.randint(1, 3)}",
            "status": status,
            "result": result,
            "verifier": {"name": rng.choice(["HR Desk", "S. Kumar", "Ritu Malhotra"]), "designation": "HR Manager"},
            "documents": [f"{PHOTO_BASE}/employment/letter_{index + 1}.png"],
        }
    if plan.check_type == "address":
        city, state, pincode = rng.choice(CITIES)
        return {
            "address": f"{rng.randint(1, 400)}, {rng.choice(['MG Road', 'Park Street', 'Anna Salai'])}",
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
            "feedback": "Reliable and punctual." if status == "completed" else None,
        }
    return {
        "platform": rng.choice(["LinkedIn", "X", "Facebook"]),
        "status": status,
        "result": result,
        "flags": [] if result == "clear" else ["inconsistent employment history"],
    }


def vendor_time_text(epoch: float) -> str:
    """A moment in the vendor's `completed_at` format, e.g. "13 May, 2026, 11:02" (IST)."""
    local = datetime.fromtimestamp(epoch, IST)
    return f"{local.day} {local:%b}, {local.year}, {local:%H:%M}"


def _worst(results: list[str]) -> str:
    ranked = [r for r in RESULTS_BY_SEVERITY if r in results]
    return ranked[0] if ranked else "clear"


def _seed(case_id: str) -> int:
    return int(hashlib.sha256(case_id.encode()).hexdigest()[:12], 16)
