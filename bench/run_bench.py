"""Issue 5 benchmarks, side by side in one run; prints each figure, its floor or baseline, and the ratio.

The pipeline runs as `python pipelines/bgv.py` in a subprocess (process start to exit, load included)
against the sandbox in this process, with an injected per-request latency so network time is real.

usage: .venv/bin/python bench/run_bench.py [--quick] [--only-postgres] [--only-key-flood]
(--quick: smaller numbers, for a smoke test)
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "pipelines"))

from konnectnxt.demo.key_flood import key_flood_reports
from konnectnxt.demo.sandbox import Sandbox

API_KEY = "bench-key"
NOW = 1_780_000_000.0
LATENCY = 0.1
rows: list[tuple[str, str, str, str]] = []


def report(name: str, figure: str, compared_with: str = "", ratio: str = "") -> None:
    rows.append((name, figure, compared_with, ratio))
    print(f"  {name}: {figure}  {compared_with}  {ratio}", flush=True)


def environment(root: Path, sandbox: Sandbox, **settings: str) -> dict[str, str]:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_", "RUNTIME__"))
    }
    return {
        **base,
        "DLT_PROJECT_DIR": str(root),
        "DLT_DATA_DIR": str(root / "dlt"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "SOURCES__KONNECTNXT__API_KEY": API_KEY,
        "SOURCES__KONNECTNXT__BASE_URL": sandbox.base_url,
        **{f"SOURCES__KONNECTNXT__{key.upper()}": str(value) for key, value in settings.items()},
    }


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process, which must succeed.

    Output goes to files: a chatty child would block on a full pipe that nobody reads.
    """
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            stdout.seek(0)
            stderr.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{stdout.read().decode()}\n{stderr.read().decode()[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def bgv(root: Path, sandbox: Sandbox, *args: str, **settings: str) -> tuple[float, float]:
    return timed(
        [sys.executable, str(REPO / "pipelines" / "bgv.py"), *args], environment(root, sandbox, **settings), root
    )


def fresh_project(parent: Path, name: str, case_ids: list[str]) -> Path:
    root = parent / name
    root.mkdir()
    (root / "ids.txt").write_text("\n".join(case_ids) + "\n")
    return root


def serve(sandbox: Sandbox, case_ids: list[str], finished: bool = False) -> None:
    for case_id in case_ids:
        opened = NOW - (40 if finished else 5) * 86400
        sandbox.add_generated_case(case_id, opened_at=opened, span_seconds=30 * 86400)


def ids(count: int, offset: int = 0) -> list[str]:
    return [f"{offset + i + 1:032x}" for i in range(count)]


def requests_between(sandbox: Sandbox, start: int) -> list:
    return sandbox.requests[start:]


def bench_fetch(work: Path, sandbox: Sandbox, count: int) -> None:
    print(f"1. fetch concurrency: {count} due cases, {LATENCY * 1000:.0f} ms latency", flush=True)
    case_ids = ids(count)
    serve(sandbox, case_ids)
    sandbox.latency = 0
    zero, _ = bgv(fresh_project(work, "zero", case_ids), sandbox, "--cases-file", "ids.txt", workers=20)
    report("fixed overhead (same run, 0 ms latency, 20 workers)", f"{zero:.1f} s")
    sandbox.latency = LATENCY
    for workers in (20, 10, 5):
        root = fresh_project(work, f"workers{workers}", case_ids)
        sandbox.max_in_flight = 0
        requests_before = len(sandbox.requests)
        wall, _ = bgv(root, sandbox, "--cases-file", "ids.txt", workers=workers)
        floor = count * LATENCY / workers
        target = 1.5 * floor + zero
        report(
            f"end to end, {workers} workers",
            f"{wall:.1f} s",
            f"floor {floor:.1f} s; target <= 1.5 x floor + overhead = {target:.1f} s",
            f"{wall / target:.2f} of target" + ("" if wall <= target else "  MISSED"),
        )
        report(
            f"max requests in flight, {workers} workers",
            str(sandbox.max_in_flight),
            f"workers = {workers}",
            "ok" if sandbox.max_in_flight <= workers else "EXCEEDED",
        )
        if workers == 20:
            politeness(root, sandbox, start_of_project=requests_before)
    limited = case_ids[: count // 2]
    root = fresh_project(work, "rate_limited", limited)
    start = len(sandbox.requests)
    bgv(root, sandbox, "--cases-file", "ids.txt", workers=20, max_requests_per_second=50)
    times = sorted(r.at for r in requests_between(sandbox, start))
    busiest = max(sum(1 for t in times if s <= t < s + 1) for s in times)
    report(
        "max_requests_per_second = 50",
        f"busiest 1 s window: {busiest} requests",
        "limit 50",
        "ok" if busiest <= 51 else "EXCEEDED",
    )


def politeness(root: Path, sandbox: Sandbox, start_of_project: int) -> None:
    """Rerun at once, twice, with the default min_poll_interval (15 s) and --all-open, then check every
    case's requests in this project: none may follow a successful one within 15 s."""
    bgv(root, sandbox, "--all-open")
    bgv(root, sandbox, "--all-open")
    by_case: dict[str, list] = {}
    for record in requests_between(sandbox, start_of_project):
        by_case.setdefault(record.case_id, []).append(record)
    gaps = [
        later.at - earlier.at
        for records in by_case.values()
        for earlier, later in pairwise(records)
        if earlier.status == 200
    ]
    shortest = f"{min(gaps):.1f} s" if gaps else "n/a"
    report(
        "5. politeness: shortest gap after a successful fetch, 3 runs back to back",
        shortest,
        f"min_poll_interval 15 s ({len(gaps)} repeat requests)",
        "ok" if not gaps or min(gaps) >= 15 else "VIOLATED",
    )


def bench_baseline(work: Path, sandbox: Sandbox, count: int, ours_at_20: float | None) -> None:
    print(f"2. against dlt's generic rest_api source: {count} cases, {LATENCY * 1000:.0f} ms latency", flush=True)
    case_ids = ids(count)
    root = fresh_project(work, "restapi", case_ids)
    sandbox.latency = LATENCY
    env = environment(root, sandbox)
    wall, _ = timed(
        [
            sys.executable,
            str(REPO / "bench" / "restapi_baseline.py"),
            sandbox.base_url,
            API_KEY,
            str(root / "ids.txt"),
            str(root / "restapi.duckdb"),
            str(root / "dlt"),
        ],
        env,
        root,
    )
    report("rest_api baseline, end to end", f"{wall:.1f} s")
    if ours_at_20:
        report(
            "ours (20 workers) vs rest_api baseline",
            f"{ours_at_20:.1f} s",
            f"baseline {wall:.1f} s",
            f"{wall / ours_at_20:.1f}x faster" + ("" if wall / ours_at_20 >= 10 else "  MISSED (target 10x)"),
        )


def bench_scale(work: Path, sandbox: Sandbox, terminal: int, open_cases: int) -> None:
    print(f"3. cost grows with open cases only: {terminal} terminal + {open_cases} open", flush=True)
    open_ids, done_ids = ids(open_cases, offset=10_000_000), ids(terminal, offset=20_000_000)
    serve(sandbox, open_ids)
    serve(sandbox, done_ids, finished=True)
    sandbox.latency = 0
    big = fresh_project(work, "big", done_ids + open_ids)
    setup, _ = bgv(big, sandbox, "--cases-file", "ids.txt", workers=20)
    print(f"   (setup: loaded {terminal + open_cases} cases in {setup:.0f} s)", flush=True)
    small = fresh_project(work, "small", open_ids)
    bgv(small, sandbox, "--cases-file", "ids.txt", workers=20)
    sandbox.latency = LATENCY
    measured = {}
    for name, root in (("small", small), ("big", big), ("small", small), ("big", big)):
        start = len(sandbox.requests)
        wall, rss = bgv(root, sandbox, "--all-open", workers=20, min_poll_interval=0)
        sent = len(requests_between(sandbox, start))
        best = measured.get(name)
        measured[name] = (min(wall, best[0]) if best else wall, max(rss, best[1]) if best else rss, sent)
    (small_wall, small_rss, _), (big_wall, big_rss, big_sent) = measured["small"], measured["big"]
    report(
        f"requests sent with {terminal:,} terminal cases tracked",
        str(big_sent),
        f"open cases = {open_cases}",
        "ok" if big_sent == open_cases else "WRONG",
    )
    report(
        "wall time, big vs only-open warehouse",
        f"{big_wall:.1f} s",
        f"{small_wall:.1f} s",
        f"{big_wall / small_wall:.2f}x" + ("" if big_wall <= 1.25 * small_wall else "  MISSED (<= 1.25x)"),
    )
    report(
        "peak RSS, big vs only-open warehouse",
        f"{big_rss:.0f} MB",
        f"{small_rss:.0f} MB",
        f"{big_rss / small_rss:.2f}x" + ("" if big_rss <= 1.25 * small_rss else "  MISSED (<= 1.25x)"),
    )


def bench_normalize(work: Path, count: int) -> None:
    print(f"4. normalize and load: {count} in-memory reports", flush=True)
    results = {}
    for variant in ("ours", "baseline"):
        output = (
            subprocess.run(
                [
                    sys.executable,
                    str(REPO / "bench" / "normalize_load.py"),
                    variant,
                    str(count),
                    str(work / f"nl_{variant}"),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        results[variant] = json.loads(output)
    ours, baseline = results["ours"], results["baseline"]
    report(
        "normalize + load, ours vs one merged resource (insert_values)",
        f"{ours['seconds']:.1f} s",
        f"baseline {baseline['seconds']:.1f} s",
        f"{ours['seconds'] / baseline['seconds']:.2f} of baseline"
        + ("" if ours["seconds"] * 3 < baseline["seconds"] else "  MISSED (< 1/3)"),
    )
    report(
        "peak RSS, ours (main process; each normalize worker)",
        f"{ours['peak_rss_mb']} MB; {ours['worker_peak_rss_mb']} MB",
        f"baseline {baseline['peak_rss_mb']} MB; limit 1024 MB",
        "ok" if ours["peak_rss_mb"] < 1024 else "MISSED",
    )


def normalize_load(variant: str, count: int, work: Path, postgres_url: str | None = None) -> dict:
    command = [
        sys.executable,
        str(REPO / "bench" / "normalize_load.py"),
        variant,
        str(count),
        str(work / f"nl_{variant}"),
    ]
    output = subprocess.run(
        [*command, *([postgres_url] if postgres_url else [])], check=True, capture_output=True, text=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def bench_postgres(work: Path, sandbox: Sandbox, fetch_count: int, report_count: int) -> None:
    """6. The same latency run and normalize+load on a throwaway PostgreSQL, beside DuckDB's in this run."""
    sys.path.insert(0, str(REPO / "tests"))
    from postgres_server import create_database, start_postgres

    print(f"6. PostgreSQL: {fetch_count} due cases at {LATENCY * 1000:.0f} ms, {report_count} reports", flush=True)
    server = start_postgres()
    try:
        databases = iter(range(100))

        def on_postgres() -> dict[str, str]:
            name = f"bench_{next(databases)}"
            create_database(server.url("postgres"), name)
            return {
                "PIPELINES__BGV__DESTINATION_TYPE": "postgres",
                "DESTINATION__POSTGRES__CREDENTIALS": server.url(name),
            }

        case_ids = ids(fetch_count, offset=30_000_000)
        serve(sandbox, case_ids)
        sandbox.latency = 0
        zero, _ = bgv_on(fresh_project(work, "pg_zero", case_ids), sandbox, on_postgres(), "--cases-file", "ids.txt")
        report("PostgreSQL: fixed overhead (0 ms latency, 20 workers)", f"{zero:.1f} s")
        sandbox.latency = LATENCY
        wall, _ = bgv_on(
            fresh_project(work, "pg_workers20", case_ids), sandbox, on_postgres(), "--cases-file", "ids.txt"
        )
        floor = fetch_count * LATENCY / 20
        target = 1.5 * floor + zero
        report(
            "PostgreSQL: end to end, 20 workers",
            f"{wall:.1f} s",
            f"floor {floor:.1f} s; target <= 1.5 x floor + overhead = {target:.1f} s",
            f"{wall / target:.2f} of target" + ("" if wall <= target else "  MISSED"),
        )
        sandbox.latency = 0
        duck = normalize_load("ours", report_count, work / "pg_duckdb")
        name = "bench_load"
        create_database(server.url("postgres"), name)
        pg = normalize_load("ours_postgres", report_count, work, server.url(name))
        report(
            f"normalize + load of {report_count} reports, PostgreSQL vs DuckDB (same run)",
            f"{pg['seconds']:.1f} s",
            f"DuckDB {duck['seconds']:.1f} s; target <= 2 x DuckDB",
            f"{pg['seconds'] / duck['seconds']:.2f}x" + ("" if pg["seconds"] <= 2 * duck["seconds"] else "  MISSED"),
        )
        report("peak RSS, PostgreSQL load (main process)", f"{pg['peak_rss_mb']} MB", "limit 1024 MB")
    finally:
        server.stop()


def bench_key_flood(work: Path, sandbox: Sandbox, reports: int) -> None:
    """7. Reports of 2,000 entry keys each, none shared, into DuckDB and PostgreSQL (max_vendor_columns = 300)."""
    sys.path.insert(0, str(REPO / "tests"))
    from postgres_server import create_database, start_postgres

    print(f"7. key flood: {reports} reports x 2,000 new entry keys", flush=True)
    served = key_flood_reports(reports=reports, keys_per_report=2000)
    for case_id, data in served.items():
        sandbox.add_case(case_id, data)
    sandbox.latency = 0
    wall, peak = bgv_on(fresh_project(work, "flood_duckdb", list(served)), sandbox, {}, "--cases-file", "ids.txt")
    before = "limit 1024 MB (before max_vendor_columns: 3.8-4.2 GB for 2,000 new keys)"
    report("key flood into DuckDB, peak RSS; wall time", f"{peak:.0f} MB; {wall:.1f} s", before, _within(peak))
    server = start_postgres()
    try:
        create_database(server.url("postgres"), "bench_flood")
        destination = {
            "PIPELINES__BGV__DESTINATION_TYPE": "postgres",
            "DESTINATION__POSTGRES__CREDENTIALS": server.url("bench_flood"),
        }
        root = fresh_project(work, "flood_postgres", list(served))
        wall, peak = bgv_on(root, sandbox, destination, "--cases-file", "ids.txt")
        before = "limit 1024 MB (before max_vendor_columns: refused over 1,600 columns)"
        report(
            "key flood into PostgreSQL, peak RSS of the CLI; wall time",
            f"{peak:.0f} MB; {wall:.1f} s",
            before,
            _within(peak),
        )
    finally:
        server.stop()


def _within(peak_mb: float) -> str:
    return "ok" if peak_mb < 1024 else "MISSED"


def bgv_on(root: Path, sandbox: Sandbox, destination: dict[str, str], *args: str) -> tuple[float, float]:
    env = {**environment(root, sandbox, workers=20), **destination}
    return timed([sys.executable, str(REPO / "pipelines" / "bgv.py"), *args], env, root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only-postgres", action="store_true", help="only section 6 (PostgreSQL beside DuckDB)")
    parser.add_argument("--only-key-flood", action="store_true", help="only section 7 (a flood of new vendor keys)")
    args = parser.parse_args()
    sizes = (
        {"fetch": 200, "terminal": 2000, "open": 50, "reports": 500, "flood": 5}
        if args.quick
        else {"fetch": 2000, "terminal": 50_000, "open": 500, "reports": 10_000, "flood": 50}
    )
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bgv-bench-"))
    try:
        with Sandbox(api_key=API_KEY, clock=lambda: NOW) as sandbox:
            everything = not args.only_postgres and not args.only_key_flood
            if everything:
                bench_fetch(work, sandbox, sizes["fetch"])
                ours_at_20 = next((float(r[1].split()[0]) for r in rows if r[0] == "end to end, 20 workers"), None)
                bench_baseline(work, sandbox, sizes["fetch"], ours_at_20)
                bench_scale(work, sandbox, sizes["terminal"], sizes["open"])
            if not args.only_key_flood:
                bench_postgres(work, sandbox, sizes["fetch"], sizes["reports"])
            if not args.only_postgres:
                bench_key_flood(work, sandbox, sizes["flood"])
        if everything:
            bench_normalize(work, sizes["reports"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| figure | measured | compared with | ratio |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
