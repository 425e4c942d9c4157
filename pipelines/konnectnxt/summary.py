"""The summaries the command line prints: what a run, a --forget, an --untrack or a --rebuild did.

Each first line starts with the time, as every log line does.
"""

from .duckdb_file import cli_command
from .forget import ForgetReport
from .log_digest import examples, first_lines
from .rebuild import RebuildReport
from .run_report import RunReport
from .timestamps import timestamp
from .untrack import UntrackReport


def format_summary(report: RunReport) -> str:
    stats = report.stats
    lines = [f"{timestamp(report.started_at)} bgv run {stats.run_id[:8]} (pipeline {report.pipeline_name})"]
    tracked = report.tracked
    if not tracked.get("tracked"):
        lines += [
            "  no cases are tracked yet. Add some with --case-id ID or --cases-file submit_response.json,",
            "  or list them under [sources.konnectnxt] case_ids; try it out with --demo.",
        ]
    else:
        lines += [
            f"  tracked cases:   {tracked['tracked']} ({tracked['open']} open"
            + (f", {tracked['not_found']} not found" if tracked["not_found"] else "")
            + (f", {tracked['untracked']} untracked" if tracked.get("untracked") else "")
            + ")"
            + (f", {report.registered} newly registered" if report.registered else "")
            + (f", {len(report.revived)} tracked again" if report.revived else ""),
            f"  due:             {stats.due}",
            f"  fetched:         {stats.fetched}",
            f"  changed:         {stats.changed}",
            f"  newly completed: {stats.newly_completed}",
            f"  failed:          {stats.failed}" + ("  (see konnectnxt.fetch_errors)" if stats.failed else ""),
        ]
        if stats.rechecked:
            lines.append(
                f"  re-checked {stats.rechecked} completed case(s) (among the fetched)"
                + (f", {stats.reopened} re-opened: polled as open again" if stats.reopened else "")
            )
        if stats.stale:
            lines.append(f"  stale snapshots ignored: {stats.stale} (older than the stored report; nothing changed)")
        if stats.kept_out:
            lines.append(
                f"  reports kept out (shape changed): {stats.kept_out} (nothing stored changed; kept in raw_reports "
                "for --rebuild; see konnectnxt.fetch_errors)"
            )
        if stats.not_requested:
            lines.append(f"  not requested:   {stats.not_requested} (the run stopped first; polled on the next run)")
        transitions = [(k, n) for k, n in stats.status_changes.most_common() if k[0] is not None]
        if transitions:
            lines.append("  status changes:  " + ", ".join(f"{a} -> {b}: {n}" for (a, b), n in transitions))
        if stats.marked_not_found:
            lines.append(
                f"  marked not found: {len(stats.marked_not_found)} (only 404s since long enough; no longer polled; "
                f"--retry-not-found polls them again): {examples(stats.marked_not_found)}"
            )
        if stats.unparsed_completed_at:
            lines.append(
                f"  completed_at texts not understood: {stats.unparsed_completed_at} (kept in checks.completed_at_raw)"
            )
    if report.self_check:
        lines.append(f"  {report.self_check}")
    lines.extend(f"  {line}" for line in report.schema_lines)
    if report.views_failed:
        lines.append(f"  views not created: {', '.join(report.views_failed)} (see the warnings above)")
    for problem in first_lines(report.input_problems):
        lines.append(f"  skipped input: {problem}")
    for note in report.notes:
        lines.append(f"  note: {note}")
    if report.table_rows:
        lines.append("  rows in tables (loaded this run):")
        for table, count in report.table_rows.items():
            loaded = stats.rows.get(table)
            lines.append(f"    {report.dataset}.{table:<20} {count:>8}" + (f"  ({loaded})" if loaded else ""))
    lines.append(f"  database: {report.destination}  dataset: {report.dataset}")
    start = f"select status, result, count(*) from {report.dataset}.cases group by 1, 2"
    if report.destination.endswith(".duckdb"):
        lines.append(f'  query:    {cli_command()} -readonly {report.destination} "{start}"')
    elif report.destination.startswith("postgres://"):
        lines.append(f'  query:    psql "postgresql{report.destination.removeprefix("postgres")}" -c "{start}"')
    return "\n".join(lines)


def _opening(command: str, report: ForgetReport | RebuildReport | UntrackReport) -> str:
    """The first line of a command that polls nothing: the time, the command, where it worked."""
    return f"{timestamp()} bgv {command} (pipeline {report.pipeline_name}, database {report.destination})"


def format_forget_summary(report: ForgetReport) -> str:
    lines = [_opening("forget", report)]
    if report.no_warehouse:
        lines.append(f"  no warehouse at {report.destination}: nothing to forget (nothing was created)")
        return "\n".join(lines)
    for case_id, tables in report.removed.items():
        if tables:
            removed = ", ".join(f"{count} from {table}" for table, count in tables.items())
            lines.append(f"  {case_id}: removed {removed}")
        else:
            lines.append(f"  {case_id}: nothing stored for it")
    lines.append(f"  load packages removed from the dlt working dir: {report.packages_purged}")
    lines.append("  kept: only the id and the time, in konnectnxt.forgotten_cases; --case-id ID tracks it again")
    return "\n".join(lines)


def format_rebuild_summary(report: RebuildReport) -> str:
    lines = [_opening("rebuild", report)]
    lines.append(f"  rebuilt {report.cases} case(s) from raw_reports, without any API request")
    if report.kept_out:
        lines.append(
            f"  reports kept out (shape changed): {report.kept_out} (this version cannot apply them: "
            "those cases keep what is stored)"
        )
    for table, count in report.rows.items():
        lines.append(f"    {table:<20} {count:>8} rows")
    if report.without_raw_report:
        lines.append(
            f"  {report.without_raw_report} fetched case(s) have no raw report yet (fetched before raw_reports "
            "existed): left as they are until their next fetch (--refresh-completed fetches terminal ones)"
        )
    lines.extend(f"  {line}" for line in report.schema_lines)
    lines.append("  kept as they were: history, polling state (tracked_cases), fetch_errors")
    return "\n".join(lines)


def format_untrack_summary(report: UntrackReport) -> str:
    lines = [_opening("untrack", report)]
    if report.no_warehouse:
        lines.append(f"  no warehouse at {report.destination}: nothing is tracked (nothing was created)")
        return "\n".join(lines)
    for case_id in report.untracked:
        lines.append(f"  {case_id}: no longer polled; its data is kept (--case-id {case_id} tracks it again)")
    for case_id in report.already_untracked:
        lines.append(f"  {case_id}: was untracked already")
    for case_id in report.not_tracked:
        lines.append(f"  {case_id}: not tracked here: nothing to do")
    return "\n".join(lines)
