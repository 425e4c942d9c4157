"""Load KonnectNXT background-verification reports into the warehouse; run it from cron.

Each run registers the case ids it is given, polls the tracked cases that are due (open cases on a
backoff; terminal ones only on their re-checks), loads them into the `konnectnxt` dataset and prints a
summary.

exit codes:
  0  every due case was fetched and loaded
  1  partial: at least one case failed or its report was kept out (see konnectnxt.fetch_errors), an
     input line held a bad id, a view could not be created, or the fetching went on past
     max_run_seconds (what was fetched is loaded)
  2  nothing (more) fetched: usage or configuration error, unusable input file or --case-id, another
     run in progress, unusable destination, no space left on device, authentication failed, every
     request answered 404, cannot reach the API, or the API stopped answering (what came is loaded)
  3  unexpected internal error (traceback in <pipelines_dir>/<pipeline>/last_error.log)
  130, 143  interrupted (Ctrl-C, SIGTERM)
  --status: 0 the last run succeeded within health_max_age_minutes, 1 it failed or is older,
     2 no warehouse (or it cannot be read)
"""

import argparse
import faulthandler
import logging
import os
import signal
import sys
import traceback

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# dlt reads .dlt/ and we resolve relative DuckDB paths from the project dir: the repo, not the cwd.
os.environ.setdefault("DLT_PROJECT_DIR", REPO_ROOT)
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from bgv_dlt_context import project_data_dir

# dlt's working dir lives in the project, never in a home or temp dir shared with other accounts.
os.environ.setdefault("DLT_DATA_DIR", project_data_dir(os.environ["DLT_PROJECT_DIR"]))

from konnectnxt.config_help import help_text
from konnectnxt.errors import (
    EXIT_INTERNAL_ERROR,
    EXIT_OK,
    BgvError,
    NoSpaceLeft,
    Terminated,
    describe,
    interrupted_exit_code,
    interruption,
    no_space_left,
)
from konnectnxt.forget import forget_cases
from konnectnxt.progress import FetchProgress
from konnectnxt.rebuild import rebuild
from konnectnxt.redaction import RedactingFormatter, redact
from konnectnxt.reset import reset_demo
from konnectnxt.run import RunRequest, run_pipeline
from konnectnxt.status import format_status, read_status
from konnectnxt.summary import format_forget_summary, format_rebuild_summary, format_summary, format_untrack_summary
from konnectnxt.timestamps import TIME_FORMAT, timestamp
from konnectnxt.untrack import untrack_cases

DESTINATION_HELP = """warehouse (dlt's own settings):
  [pipelines.bgv] destination_type = "duckdb" (default), "postgres", "motherduck", "bigquery",
      "snowflake", ... (env PIPELINES__BGV__DESTINATION_TYPE); --demo follows it into its own dataset
  [destination.duckdb] credentials: the DuckDB file, default bgv.duckdb, relative to the repo root
      (env DESTINATION__DUCKDB__CREDENTIALS); --demo writes bgv_demo.duckdb there
  [destination.<type>] credentials (secret): a server's, e.g. DESTINATION__POSTGRES__CREDENTIALS
The README is the full manual."""

logger = logging.getLogger("bgv")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bgv.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join([__doc__.split("\n\n", 2)[2].rstrip(), help_text(), DESTINATION_HELP]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--case-id",
        action="append",
        default=[],
        metavar="ID",
        dest="case_ids",
        help="track this case id (32 hex, dashes optional); repeatable",
    )
    parser.add_argument(
        "--cases-file",
        action="append",
        default=[],
        metavar="PATH",
        dest="cases_files",
        help="track every case id in PATH: a saved bulk-submit response (JSON), a JSON list "
        "of ids, a CSV with a case_id column, or one id per line; repeatable",
    )
    parser.add_argument(
        "--all-open",
        action="store_true",
        help="poll every open case now, ignoring the backoff (never within min_poll_interval)",
    )
    parser.add_argument("--refresh-completed", action="store_true", help="also re-fetch completed and rejected cases")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against a built-in sandbox of the API with 50 demo cases, into "
        "bgv_demo.duckdb (no API key needed; never touches bgv.duckdb)",
    )
    parser.add_argument(
        "--forget",
        action="append",
        default=[],
        metavar="CASE_ID",
        help="delete this case from every table and the dlt working dir, keeping only its id and "
        "the time in forgotten_cases (ids from config or files are then skipped; only "
        "--case-id tracks it again); repeatable; polls nothing",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="with --demo: start the demo over (its database, working dir and clock); never touches the real pipeline",
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="re-derive every report table from the stored raw reports, without a single API request "
        "(history and polling state are kept); polls nothing",
    )
    parser.add_argument(
        "--retry-not-found",
        action="store_true",
        help="poll every case marked not found again (after fixing base_url, or once the vendor has them)",
    )
    parser.add_argument(
        "--untrack",
        action="append",
        default=[],
        metavar="CASE_ID",
        help="stop polling this case and keep all its data (--case-id tracks it again); repeatable; polls nothing",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="print the last runs, case counts and health from the warehouse alone (no API request); exit 0 "
        "when the last run succeeded within health_max_age_minutes, 1 when it failed or is older, 2 when "
        "there is no warehouse",
    )
    parser.add_argument("--verbose", action="store_true", help="detail and tracebacks on stderr")
    args = parser.parse_args(argv)
    polling = args.case_ids or args.cases_files or args.all_open or args.refresh_completed or args.retry_not_found
    if args.reset and not args.demo:
        parser.error("--reset starts the demo over: use it with --demo")
    alone = [
        (args.forget, "--forget"),
        (args.rebuild, "--rebuild"),
        (args.untrack, "--untrack"),
        (args.status, "--status"),
    ]
    chosen = [name for given, name in alone if given]
    if chosen and (polling or args.reset or len(chosen) > 1):
        parser.error(f"{chosen[0]} runs alone (with --demo and --verbose at most)")
    return args


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", TIME_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    # dlt's own lines (multi-line, tracebacks) only with --verbose: ours carry the root cause in one line.
    # dlt sets its logger's level from [runtime] log_level when it starts, hence the env default.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "INFO" if verbose else "CRITICAL")
    logging.getLogger("dlt").setLevel(os.environ["RUNTIME__LOG_LEVEL"])


def write_last_error(pipeline_name: str) -> str | None:
    try:
        from dlt.common.pipeline import get_dlt_pipelines_dir

        folder = os.path.join(get_dlt_pipelines_dir(), pipeline_name)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "last_error.log")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(redact(traceback.format_exc()))
        return path
    except Exception:  # noqa: BLE001 - the log is best effort; the exit code matters more
        return None


def say(line: str) -> None:
    """A `bgv:` line on stderr, with the time like every log line (cron mail and logs show when)."""
    print(f"{timestamp()} {line}", file=sys.stderr)


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # the working dir, the database and logs hold candidates' data: this account only
    signal.signal(signal.SIGTERM, raise_terminated)
    # A background job of a non-interactive shell starts with SIGINT ignored: Ctrl-C / kill -INT must still end the run.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack on stderr, for a run that seems stuck
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    args = parse_args(argv)
    configure_logging(args.verbose)
    request = RunRequest(
        args.case_ids,
        args.cases_files,
        args.all_open,
        args.refresh_completed,
        args.demo,
        args.forget,
        retry_not_found=args.retry_not_found,
    )
    try:
        if args.status:
            status = read_status(request.pipeline_name)
            print(format_status(status))
            return status.health[0]
        if request.forget:
            print(format_forget_summary(forget_cases(request.pipeline_name, request.forget)))
            return EXIT_OK
        if args.untrack:
            print(format_untrack_summary(untrack_cases(request.pipeline_name, args.untrack)))
            return EXIT_OK
        if args.reset:
            reset_demo(request.pipeline_name)
        if args.rebuild:
            print(format_rebuild_summary(rebuild(request.pipeline_name)))
            return EXIT_OK
        report = run_pipeline(request, on_progress=FetchProgress())
    except BgvError as exc:
        if args.verbose:
            logger.debug("detail", exc_info=True)
        if (loaded := getattr(exc, "report", None)) is not None:
            print(format_summary(loaded))
        full = no_space_left(exc)
        say(redact(f"bgv: {NoSpaceLeft(full) if full else exc}"))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        say("bgv: interrupted")
        return interrupted_exit_code(exc)
    except Exception as exc:  # noqa: BLE001 - any crash must exit 3, never 1
        if stopped := interruption(exc):
            say("bgv: interrupted")
            return interrupted_exit_code(stopped)
        if full := no_space_left(exc, fallback=os.environ["DLT_DATA_DIR"]):
            if args.verbose:
                print(redact(traceback.format_exc()), file=sys.stderr)
            say(f"bgv: {NoSpaceLeft(full)}")
            return NoSpaceLeft.exit_code
        path = write_last_error(request.pipeline_name)
        if args.verbose:
            print(redact(traceback.format_exc()), file=sys.stderr)
        where = f"traceback in {path}" if path else "rerun with --verbose for the traceback"
        say(redact(f"bgv: internal error: {describe(exc)} ({where})"))
        return EXIT_INTERNAL_ERROR
    print(format_summary(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
