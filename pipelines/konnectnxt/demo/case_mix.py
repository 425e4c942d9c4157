"""What fake cases contain: check types with their turnaround and odds, remarks, and the demo's findings."""

import random
from collections.abc import Iterable
from dataclasses import dataclass

RESULTS_BY_SEVERITY = ("discrepancy", "minor_discrepancy", "unable_to_verify", "not_available", "clear")


@dataclass(frozen=True)
class CheckType:
    """A kind of check: how the vendor names it, how many days after the case opens it completes, its odds."""

    check_type: str
    name: str
    category: str
    turnaround_days: tuple[float, float]
    result_weights: dict[str, int]
    entry_counts: tuple[int, int] = (0, 0)


_MOSTLY_CLEAR = {"clear": 97, "minor_discrepancy": 1, "discrepancy": 1, "unable_to_verify": 1}
# Report order; the odds follow Indian BGV: findings cluster in employment, address and education.
CHECK_TYPES = {
    check.check_type: check
    for check in [
        CheckType(
            "identity_aadhaar", "Aadhaar Verification", "Identity", (1, 2), {"clear": 99, "minor_discrepancy": 1}
        ),
        CheckType("identity_pan", "PAN Verification", "Identity", (1, 2), {"clear": 97, "minor_discrepancy": 3}),
        CheckType("criminal", "Criminal Record Check", "Criminal & Compliance", (5, 9), _MOSTLY_CLEAR),
        CheckType("court_record", "Court Record Check", "Criminal & Compliance", (5, 9), _MOSTLY_CLEAR),
        CheckType("drug_test", "Drug Test", "Health", (2, 4), {"clear": 98, "discrepancy": 1, "not_available": 1}),
        CheckType("social_media", "Social Media Check", "Social/Professional", (3, 5), _MOSTLY_CLEAR, (1, 1)),
        CheckType(
            "reference",
            "Reference Check",
            "Reference",
            (5, 10),
            {"clear": 88, "minor_discrepancy": 2, "unable_to_verify": 8, "not_available": 2},
            (1, 2),
        ),
        CheckType(
            "address",
            "Address Verification",
            "Address",
            (8, 12),
            {"clear": 86, "minor_discrepancy": 5, "discrepancy": 4, "unable_to_verify": 2, "not_available": 3},
            (1, 2),
        ),
        CheckType(
            "education",
            "Education Verification",
            "Education",
            (7, 21),
            {"clear": 87, "minor_discrepancy": 4, "discrepancy": 3, "unable_to_verify": 4, "not_available": 2},
        ),
        CheckType(
            "employment",
            "Employment Verification",
            "Employment",
            (7, 21),
            {"clear": 80, "minor_discrepancy": 8, "discrepancy": 6, "unable_to_verify": 4, "not_available": 2},
            (1, 3),
        ),
    ]
}
# The checks that finish a case: what completes last, slowest kinds first.
SLOWEST_FIRST = ("employment", "education", "address", "reference", "court_record", "criminal")

REMARKS = {
    ("employment", "clear"): "Tenure and designation confirmed by HR.",
    ("employment", "minor_discrepancy"): "Relieving date differs by one month from HR records; not material.",
    (
        "employment",
        "discrepancy",
    ): "HR records show a shorter tenure than claimed; the experience letter is not genuine.",
    ("employment", "unable_to_verify"): "Company has closed down; no HR contact reachable after three attempts.",
    ("employment", "not_available"): "Insufficient information provided: no relieving letter, payslips or HR contact.",
    ("education", "clear"): "Degree confirmed by the university's registrar.",
    ("education", "minor_discrepancy"): "Year of passing per university records differs by one year from the claim.",
    ("education", "discrepancy"): "University has no record of a degree under this enrolment number.",
    ("education", "unable_to_verify"): "University did not respond after three reminders.",
    ("education", "not_available"): "Insufficient information provided: degree certificate and marksheets not shared.",
    ("address", "clear"): "Candidate confirmed at the address by a field visit.",
    ("address", "minor_discrepancy"): "Candidate resides at the address; the house number differs from the one given.",
    ("address", "discrepancy"): "Candidate not known at the given address; the landlord confirms no such resident.",
    ("address", "unable_to_verify"): "Premises locked on three visits; no neighbour could confirm residence.",
    ("address", "not_available"): "Insufficient information provided: address lacks house number and pincode.",
    ("identity_pan", "minor_discrepancy"): "Name on PAN carries initials only; otherwise matches.",
    ("reference", "unable_to_verify"): "Referee did not respond to three calls and two emails.",
    ("criminal", "clear"): "No records found in police or court databases.",
    ("court_record", "clear"): "No cases found in district and high court records.",
}
REMARKS_BY_RESULT = {
    "clear": "Verified with no adverse findings.",
    "minor_discrepancy": "Minor mismatch in the details provided; not material.",
    "discrepancy": "Details provided by the candidate do not match records.",
    "unable_to_verify": "Source did not respond after three attempts.",
    "not_available": "Insufficient information provided to run the check.",
}


# The demo's 50 cases by index (0-9 finished before the demo starts): check type -> result where it is not
# clear; every other check comes back clear.
DEMO_FINDINGS = {
    1: {"employment": "minor_discrepancy"},
    3: {"address": "discrepancy"},
    6: {"identity_pan": "minor_discrepancy"},
    9: {"employment": "not_available"},
    12: {"employment": "discrepancy"},
    15: {"reference": "unable_to_verify"},
    18: {"education": "minor_discrepancy"},
    21: {"address": "not_available"},
    24: {"employment": "discrepancy", "reference": "unable_to_verify"},
    29: {"employment": "minor_discrepancy"},
    32: {"education": "unable_to_verify"},
    35: {"address": "minor_discrepancy"},
    38: {"education": "discrepancy"},
    41: {"education": "not_available"},
    44: {"employment": "unable_to_verify"},
    47: {"employment": "minor_discrepancy"},
}
# Rejected by the vendor's audit: the candidate never sent the documents a check needed.
DEMO_REJECTED = frozenset({9, 41})


def remark_for(check_type: str, result: str) -> str:
    """The vendor's note on a check's outcome."""
    return REMARKS.get((check_type, result), REMARKS_BY_RESULT[result])


def worst_result(results: list[str]) -> str:
    """A finished case's overall result: its worst check result, clear when every check is clear."""
    return next((result for result in RESULTS_BY_SEVERITY if result in results), "clear")


def pick_check_types(rng: random.Random, required: Iterable[str] = ()) -> list[str]:
    """A typical Indian BGV package, in report order: Aadhaar, address, a criminal or court check, and
    employment or education (a fresher has no employment), plus optional PAN, reference and others."""
    picked = {"identity_aadhaar", "address", *required}
    picked |= {"criminal"} if rng.random() < 0.7 else {"court_record"}
    if rng.random() < 0.3:
        picked |= {"criminal", "court_record"}
    picked |= {"employment", "education"} if rng.random() < 0.6 else {rng.choice(["employment", "education"])}
    for check_type, chance in [("identity_pan", 0.7), ("reference", 0.3), ("social_media", 0.2), ("drug_test", 0.1)]:
        if rng.random() < chance:
            picked.add(check_type)
    return [check_type for check_type in CHECK_TYPES if check_type in picked]


def weighted_result(rng: random.Random, check_type: str) -> str:
    """A result drawn with the check type's odds."""
    weights = CHECK_TYPES[check_type].result_weights
    return rng.choices(list(weights), weights=list(weights.values()))[0]
