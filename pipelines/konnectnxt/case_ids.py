"""Case-id inputs: canonical ids from flags, config and files (submit response, JSON list, CSV, text)."""

import csv
import io
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import CaseIdInputError, ConfigurationError

# Where a tracked id came from (`tracked_cases.source`); a file's ids are labelled with the file's name.
FLAG_SOURCE = "--case-id"
CONFIG_SOURCE = "config"
DEMO_SOURCE = "demo"
# Comma, and the semicolon and tab that spreadsheet exports use in many locales.
CSV_DELIMITERS = (",", ";", "\t", "|")
_UNDASHED = re.compile(r"[0-9a-f]{32}")
_DASHED = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_case_id(text: Any) -> str:
    """The case id as 32 lowercase hex; accepts the dashed UUID form, any case, outer whitespace."""
    candidate = text.strip().lower() if isinstance(text, str) else ""
    if _UNDASHED.fullmatch(candidate):
        return candidate
    if _DASHED.fullmatch(candidate):
        return candidate.replace("-", "")
    shown = text.strip() if isinstance(text, str) else repr(text)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise ValueError(f"{shown!r} is not a case id (expected 32 hex characters, dashes optional)")


@dataclass
class CaseIdBatch:
    """Ids handed to one run, deduplicated in first-seen order, with where each came from."""

    sources: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def case_ids(self) -> list[str]:
        return list(self.sources)

    def add(self, case_id: str, source: str) -> None:
        self.sources.setdefault(case_id, source)


def add_flag_ids(batch: CaseIdBatch, values: Iterable[str]) -> None:
    """Add `--case-id` values; an invalid one is a usage error (nothing is fetched)."""
    for value in values:
        try:
            batch.add(canonical_case_id(value), FLAG_SOURCE)
        except ValueError as exc:
            raise CaseIdInputError(f"--case-id: {exc}") from None


def flag_case_ids(values: Iterable[str], flag: str) -> list[str]:
    """The canonical ids named with `flag` (--forget, --untrack), deduplicated; a bad one is a usage error."""
    case_ids = []
    for value in values:
        try:
            case_ids.append(canonical_case_id(value))
        except ValueError as exc:
            raise CaseIdInputError(f"{flag}: {exc}") from None
    return list(dict.fromkeys(case_ids))


def add_config_ids(batch: CaseIdBatch, values: Iterable[Any]) -> None:
    """Add ids from `[sources.konnectnxt] case_ids`; an invalid one is a configuration error."""
    for value in values:
        try:
            batch.add(canonical_case_id(value), CONFIG_SOURCE)
        except ValueError as exc:
            raise ConfigurationError(f"[sources.konnectnxt] case_ids: {exc}; expected a list of case ids") from None


def add_file_ids(batch: CaseIdBatch, path: str) -> None:
    """Add the ids of one `--cases-file`; bad lines become problems, an unusable file an error."""
    text = _read_text(path)
    found, problems = parse_case_ids_text(text, os.path.basename(path))
    if not found:
        detail = f" ({problems[0]})" if problems else ""
        raise CaseIdInputError(
            f"{path}: no case ids found: expected a saved bulk-submit response "
            f"(data.cases_created[].case_id), a JSON list of ids, a CSV with a case_id column, "
            f"or one id per line{detail}"
        )
    for case_id in found:
        batch.add(case_id, os.path.basename(path))
    batch.problems.extend(problems)


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise CaseIdInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise CaseIdInputError(f"{path}: is a directory, expected a file of case ids") from None
    except OSError as exc:
        raise CaseIdInputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CaseIdInputError(f"{path}: not UTF-8 text") from None
    if not text.strip():
        raise CaseIdInputError(f"{path}: file is empty")
    return text


def parse_case_ids_text(text: str, label: str) -> tuple[list[str], list[str]]:
    """Ids and `label:line` problems from a file's text, its format detected by content."""
    text = text.lstrip("\ufeff")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        return _ids_from_submit_response(document, label)
    if isinstance(document, list):
        return _ids_from_items(((f"item {i}", item) for i, item in enumerate(document)), label)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    for delimiter in CSV_DELIMITERS:
        if "case_id" in (name.strip().lower() for name in next(csv.reader([first], delimiter=delimiter), [])):
            return _ids_from_csv(text, label, delimiter)
    return _ids_from_lines(lines, label)


def _ids_from_submit_response(document: dict, label: str) -> tuple[list[str], list[str]]:
    data = document.get("data")
    created = data.get("cases_created") if isinstance(data, dict) else None
    if not isinstance(created, list):
        raise CaseIdInputError(
            f"{label}: JSON but not a bulk-submit response (no data.cases_created list) and not a list of case ids"
        )
    items = (
        (f"data.cases_created[{i}]", entry.get("case_id") if isinstance(entry, dict) else None)
        for i, entry in enumerate(created)
    )
    return _ids_from_items(items, label)


def _ids_from_csv(text: str, label: str, delimiter: str) -> tuple[list[str], list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] = []
    items = []
    for row in reader:
        if not header:
            if any(cell.strip() for cell in row):
                header = [cell.strip().lower() for cell in row]
                column = header.index("case_id")
            continue
        if not any(cell.strip() for cell in row):
            continue
        value = row[column] if column < len(row) else ""
        items.append((f"line {reader.line_num}", value))
    return _ids_from_items(items, label)


def _ids_from_lines(lines: list[str], label: str) -> tuple[list[str], list[str]]:
    items = []
    for number, line in enumerate(lines, start=1):
        content = line.split("#", 1)[0].strip()
        if content:
            items.append((f"line {number}", content))
    return _ids_from_items(items, label)


def _ids_from_items(items: Iterable[tuple[str, Any]], label: str) -> tuple[list[str], list[str]]:
    found: list[str] = []
    problems: list[str] = []
    for where, value in items:
        try:
            found.append(canonical_case_id(value))
        except ValueError as exc:
            position = where.removeprefix("line ")
            problems.append(f"{label}:{position}: {exc}")
    return list(dict.fromkeys(found)), problems
