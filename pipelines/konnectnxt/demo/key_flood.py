"""Reports whose entries carry thousands of keys no other report has: the flood `max_vendor_columns` bounds."""

from typing import Any


def key_flood_reports(reports: int = 50, keys_per_report: int = 2000, entries: int = 4) -> dict[str, dict[str, Any]]:
    """case id -> report `data`: `keys_per_report` distinct entry keys per report, spread over `entries`
    entries of one employment check, each key in one report only; values are text, numbers and booleans."""
    served = {}
    per_entry = keys_per_report // entries
    for number in range(reports):
        case_id = f"{number:032x}"
        check_entries = []
        for entry in range(entries):
            keys = range(entry * per_entry, (entry + 1) * per_entry)
            check_entries.append({f"r{number:03d}_key_{key:04d}": _value(number, key) for key in keys})
        check = {"type": "employment", "status": "in_progress", "result": "pending", "entries": check_entries}
        served[case_id] = {"status": "in_progress", "result": "pending", "checks": [check]}
    return served


def _value(report: int, key: int) -> Any:
    kind = key % 3
    if kind == 0:
        return f"value {report}-{key}"
    return key * 7 + report if kind == 1 else key % 2 == 0
