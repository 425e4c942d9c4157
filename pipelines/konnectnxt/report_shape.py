"""What a report must hold to be applied, declared once; a report that lacks it changes nothing stored.

A report whose shape changed (a key renamed, a list turned into an object, `data` emptied) would
otherwise delete every stored check, null the case or record a NULL status. `shape_problems` says why
a report cannot be applied; the caller keeps what is stored and reports the reasons. Keys the vendor
adds are fine, and so is an empty `checks` list: a case can have no checks.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TEXT = "text"
TEXT_OR_NULL = "text or null"
LIST = "list"


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


_IS_KIND: dict[str, Callable[[Any], bool]] = {
    TEXT: _is_text,
    # A check not finished may have no result yet (null); an absent key means the shape changed.
    TEXT_OR_NULL: lambda value: value is None or _is_text(value),
    LIST: lambda value: isinstance(value, list),
}


@dataclass(frozen=True)
class Required:
    """One key a report, or each of its checks, must hold, and the kind of value it must hold."""

    key: str
    kind: str


REPORT_REQUIRES = (Required("status", TEXT), Required("checks", LIST))
CHECK_REQUIRES = (Required("type", TEXT), Required("status", TEXT_OR_NULL), Required("result", TEXT_OR_NULL))
# The first reasons are enough to see what changed; a report broken everywhere would list every check.
MAX_REASONS = 3

_PREFIX = "report shape changed: "


def shape_problems(data: Any) -> list[str]:
    """Why the report (`data` of the envelope) cannot be applied, the first few reasons; empty when it can."""
    if not isinstance(data, dict):
        return [_PREFIX + '"data" is not an object']
    problems = [_PREFIX + problem for problem in _missing(data, REPORT_REQUIRES, subject="")]
    checks = data.get("checks")
    for number, check in enumerate(checks if isinstance(checks, list) else [], start=1):
        if len(problems) >= MAX_REASONS:
            break
        if not isinstance(check, dict):
            problems.append(f"{_PREFIX}check {number} is not an object")
            continue
        problems.extend(_PREFIX + problem for problem in _missing(check, CHECK_REQUIRES, subject=f"check {number} "))
    return problems[:MAX_REASONS]


def shape_error(data: Any) -> str | None:
    """The one-line reason a report is kept out (`report shape changed: no "checks" list; ...`), or None."""
    problems = shape_problems(data)
    if not problems:
        return None
    return _PREFIX + "; ".join(problem.removeprefix(_PREFIX) for problem in problems)


def _missing(values: dict[str, Any], required: tuple[Required, ...], subject: str) -> list[str]:
    """What `values` lacks of `required`, each as `no "checks" list`, `check 2 has no "type"`..."""
    has = "has " if subject else ""
    problems = []
    for item in required:
        if item.key in values and _IS_KIND[item.kind](values[item.key]):
            continue
        if item.kind == LIST:
            problems.append(f'{subject}{has}no "{item.key}" list')
        elif item.key not in values:
            problems.append(f'{subject}{has}no "{item.key}"')
        else:
            problems.append(f'{subject}"{item.key}" is not {item.kind}')
    return problems
