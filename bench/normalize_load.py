"""Normalize and load only: N in-memory reports into a fresh warehouse, ours or the baseline.

ours:          the production source (transform, one resource per table, parquet) fed from memory, DuckDB
ours_postgres: the same into a PostgreSQL database (URL as the 4th argument), as production loads it
               there: dlt's csv through COPY, one load job at a time
baseline:      one resource yielding whole reports, write_disposition="merge", primary_key="case_id",
               dlt's default loader file format, DuckDB

Prints one JSON line: {"variant", "reports", "rows", "seconds", "peak_rss_mb"}; seconds cover
pipeline.run only, not building the reports. Run each variant in its own process (peak RSS).

usage: python bench/normalize_load.py ours|ours_postgres|baseline N WORK_DIR [POSTGRES_URL]
"""

import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pipelines"))
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt

from konnectnxt import konnectnxt
from konnectnxt.config import KonnectNxtConfiguration
from konnectnxt.demo.fake_reports import timeline_for
from konnectnxt.demo.in_memory import InMemoryClient
from konnectnxt.destinations import loader_file_format
from konnectnxt.polling import RunStats
from konnectnxt.run import normalize_workers_for
from konnectnxt.schedule import TrackedCase
from konnectnxt.schema_settings import never_coerce

NOW = 1_780_000_000.0


def realistic_reports(count: int) -> dict[str, dict]:
    """Reports from the sandbox's generator, most checks finished, as the API would serve them."""
    reports = {}
    for index in range(count):
        case_id = f"{index + 1:032x}"
        reports[case_id] = timeline_for(case_id, NOW - 30 * 86400, span_seconds=40 * 86400).report(NOW)
    return reports


def run(variant: str, count: int, work_dir: Path, postgres_url: str | None = None) -> dict:
    reports = realistic_reports(count)
    never_coerce()
    on_postgres = variant == "ours_postgres"
    destination = (
        dlt.destinations.postgres(postgres_url)
        if on_postgres
        else dlt.destinations.duckdb(str(work_dir / f"{variant}.duckdb"))
    )
    pipeline = dlt.pipeline(
        f"bench_{variant}",
        destination=destination,
        dataset_name="konnectnxt",
        pipelines_dir=str(work_dir / "pipelines"),
    )
    file_format = loader_file_format("postgres" if on_postgres else "duckdb", ("parquet", "csv", "insert_values"))
    started = time.perf_counter()
    if variant.startswith("ours"):
        configuration = KonnectNxtConfiguration()
        now = datetime.now(UTC)
        due = [TrackedCase(case_id, "bench", now) for case_id in reports]
        rules = configuration.polling_rules()
        stats = RunStats("bench")
        source = konnectnxt(due, InMemoryClient(reports), rules, stats, configuration.workers)
        # The production steps, as run.py takes them for this many cases.
        pipeline.extract(source, loader_file_format=file_format)
        pipeline.normalize(workers=normalize_workers_for(len(due)))
        info = pipeline.load(workers=1) if on_postgres else pipeline.load()
    else:

        @dlt.resource(name="cases", write_disposition="merge", primary_key="case_id")
        def whole_reports():
            for case_id, data in reports.items():
                yield {"case_id": case_id, **data}

        info = pipeline.run(whole_reports())
    seconds = time.perf_counter() - started
    # Rows the source emitted (dlt's csv writer counts rows per buffer flush, not per row).
    rows = (
        sum(stats.rows.values())
        if variant.startswith("ours")
        else sum(pipeline.last_trace.last_normalize_info.row_counts.values())
    )
    del info
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "variant": variant,
        "reports": count,
        "rows": rows,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb),
        "worker_peak_rss_mb": round(worker_peak_mb),
    }


if __name__ == "__main__":
    variant, count, work_dir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    work_dir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(variant, count, work_dir, sys.argv[4] if len(sys.argv) > 4 else None)))
