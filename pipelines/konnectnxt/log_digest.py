"""Per-case messages folded into one line per kind, so a run with 20,000 failing ids logs a few lines.

The detail of every case stays in `fetch_errors`; a line names the count and a few example ids.
"""

from collections.abc import Sequence

EXAMPLE_IDS = 3
# Kinds of failure logged one line each; the rest share a last line.
MAX_KINDS = 10


def examples(case_ids: Sequence[str]) -> str:
    shown = ", ".join(case_ids[:EXAMPLE_IDS])
    return f"e.g. {shown}, ..." if len(case_ids) > EXAMPLE_IDS else f"e.g. {shown}" if len(case_ids) > 1 else shown


def failure_lines(failures: Sequence[tuple[str, str]]) -> list[str]:
    """One line per kind of failure (the error text, the case's own id taken out), most frequent first."""
    kinds: dict[str, list[str]] = {}
    for case_id, error in failures:
        kinds.setdefault((error or "failed").replace(case_id, "<case_id>"), []).append(case_id)
    ranked = sorted(kinds.items(), key=lambda item: -len(item[1]))
    lines = []
    for error, case_ids in ranked[:MAX_KINDS]:
        if len(case_ids) == 1:
            lines.append(f"case {case_ids[0]}: {error}")
            continue
        verb = "answered" if error.startswith("HTTP ") else "failed:"
        lines.append(f"{len(case_ids)} case(s) {verb} {error} ({examples(case_ids)}); details in fetch_errors")
    rest = [case_id for _, case_ids in ranked[MAX_KINDS:] for case_id in case_ids]
    if rest:
        lines.append(
            f"{len(rest)} more case(s) failed in {len(ranked) - MAX_KINDS} other ways ({examples(rest)}); "
            "details in fetch_errors"
        )
    return lines


def not_found_line(case_ids: Sequence[str], hours: float) -> str:
    """The one line for the cases a run marked not found."""
    return (
        f"{len(case_ids)} case(s) marked not found after {hours:g} h of 404s, no longer polled ({examples(case_ids)}); "
        "--retry-not-found polls them all again, --case-id ID one"
    )


def first_lines(lines: Sequence[str], shown: int = EXAMPLE_IDS) -> list[str]:
    """The first few of many distinct lines (bad input lines), then one line counting the rest."""
    if len(lines) <= shown + 1:
        return list(lines)
    return [*lines[:shown], f"... and {len(lines) - shown} more like these"]


def forgotten_lines(skipped: dict[str, list[str]]) -> list[str]:
    """One line per input that named forgotten cases (source -> their ids)."""
    lines = []
    for source, case_ids in skipped.items():
        what = f"case {case_ids[0]}" if len(case_ids) == 1 else f"{len(case_ids)} cases ({examples(case_ids)})"
        lines.append(f"skipped forgotten {what} from {source}: only --case-id tracks it again")
    return lines
