"""A load that fails half-way: a full disk under the database or the working dir, pending data, what a run leaves.

The disk is a small tmpfs the test mounts itself (the tests run as root, in CI too).
"""

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Project, assert_no_duplicates, bgv_lines, ids, ids_file
from konnectnxt.demo.sandbox import Fault
from konnectnxt.errors import is_environmental, no_space_left

DAY = 86400.0
CASES = 300
NO_SPACE_LINE = "bgv: no space left on device: "

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")


def serve_world(sandbox, clock, count: int = CASES) -> list[str]:
    """`count` realistic cases: the first half completed days ago, the rest open."""
    case_ids = ids(count, offset=7000)
    for index, case_id in enumerate(case_ids):
        if index < count // 2:
            sandbox.add_generated_case(case_id, opened_at=clock.now - 40 * DAY, span_seconds=10 * DAY)
        else:
            sandbox.add_generated_case(case_id, opened_at=clock.now - 5 * DAY, span_seconds=10 * DAY)
    return case_ids


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def enlarge(folder: Path, megabytes: int = 64) -> None:
    subprocess.run(["mount", "-o", f"remount,size={megabytes}m", str(folder)], check=True)


@dataclass
class Warehouse:
    """The DuckDB file a test put elsewhere than the project's default."""

    project: Project
    database: Path

    def query(self, sql: str) -> list[tuple]:
        return self.project.query(sql, file=self.database)


def assert_one_no_space_line(result, path_prefix: Path) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    final = bgv_lines(result.stderr)
    assert len(final) == 1 and final[0].startswith(NO_SPACE_LINE), result.stderr[-3000:]
    assert final[0][len(NO_SPACE_LINE) :].startswith(str(path_prefix)), final[0]


def assert_state_tells_the_truth(project: Project | Warehouse, case_ids: list[str]) -> None:
    """Every id is tracked; a case the polling state says was fetched or is terminal has its report rows;
    no history row is written twice."""
    tracked = {row[0] for row in project.query("select case_id from konnectnxt.tracked_cases")}
    assert tracked == set(case_ids)
    lying = project.query(
        "select t.case_id from konnectnxt.tracked_cases t "
        "left join konnectnxt.cases c on c.case_id = t.case_id "
        "where (t.report_hash is not null or t.last_status is not null) and c.case_id is null"
    )
    assert lying == []
    without_checks = project.query(
        "select c.case_id from konnectnxt.cases c where not exists "
        "(select 1 from konnectnxt.checks k where k.case_id = c.case_id)"
    )
    assert without_checks == []
    assert (
        project.query(
            "select case_id from konnectnxt.raw_reports r where not exists "
            "(select 1 from konnectnxt.cases c where c.case_id = r.case_id)"
        )
        == []
    )
    assert_no_duplicates(project)
    assert_no_repeated_history(project)


def assert_no_repeated_history(project: Project | Warehouse) -> None:
    """A history row is a change: two rows in a row with the same status and result are a duplicate."""
    for table, key in (("case_status_history", "case_id"), ("check_status_history", "case_id, check_key")):
        repeated = project.query(
            f"select count(*) from (select status, result, lag(status) over w as previous_status, "
            f"lag(result) over w as previous_result, row_number() over w as n from konnectnxt.{table} "
            f"window w as (partition by {key} order by observed_at)) h "
            "where n > 1 and status is not distinct from previous_status "
            "and result is not distinct from previous_result"
        )[0][0]
        assert repeated == 0, f"{repeated} repeated rows in {table}"


@needs_root
@pytest.mark.parametrize("size", ["2m", "3m", "3584k", "4m"])
def test_a_full_database_disk_is_one_line_exit_2_and_the_next_run_completes_the_load(
    project, sandbox, clock, tmp_path, size
):
    case_ids = serve_world(sandbox, clock)
    with small_disk(tmp_path / "db_disk", size) as disk:
        database = disk / "bgv.duckdb"
        env = {"DESTINATION__DUCKDB__CREDENTIALS": str(database)}
        first = project.run("--cases-file", ids_file(project, case_ids), env=env)
        assert_one_no_space_line(first, disk)
        still_full = project.run(env=env)
        assert_one_no_space_line(still_full, disk)

        enlarge(disk)
        recovered = project.run(env=env)
        assert recovered.returncode == 0, recovered.stderr[-3000:]
        assert "discarded" not in recovered.stdout + recovered.stderr
        warehouse = Warehouse(project, database)
        assert_state_tells_the_truth(warehouse, case_ids)
        assert project.run("--all-open", env=env).returncode == 0
        assert_state_tells_the_truth(warehouse, case_ids)
        assert warehouse.query("select count(*) from konnectnxt.cases")[0][0] == len(case_ids)


@needs_root
@pytest.mark.parametrize("size", ["384k", "512k", "768k"])
def test_a_full_working_dir_disk_is_one_line_exit_2_and_the_next_run_completes_the_load(
    project, sandbox, clock, tmp_path, size
):
    case_ids = serve_world(sandbox, clock)
    with small_disk(tmp_path / "dlt_disk", size) as disk:
        env = {"DLT_DATA_DIR": str(disk)}
        first = project.run("--cases-file", ids_file(project, case_ids), env=env)
        assert_one_no_space_line(first, disk)
        # The database has room: the failed run is in `runs`, so --status sees it.
        assert [row[0] for row in project.query("select exit_code from konnectnxt.runs")] == [2], first.stderr

        enlarge(disk)
        project.env.update(env)
        recovered = project.run()
        assert recovered.returncode == 0, recovered.stderr[-3000:]
        # Nothing of the failed extract stays: no copy of a report outlives its load.
        assert [case_id for case_id in case_ids[:20] if files_holding(disk, candidate_name(sandbox, case_id))] == []
        assert_state_tells_the_truth(project, case_ids)
        assert project.run("--all-open").returncode == 0
        assert_state_tells_the_truth(project, case_ids)
        assert project.query("select count(*) from konnectnxt.cases")[0][0] == len(case_ids)


def test_a_run_still_fetching_after_max_run_seconds_loads_what_it_has_records_the_run_and_exits_1(project, sandbox):
    # 40 cases at 0.4 s each, one at a time, outlast the 8 s; a first run on a busy machine may spend half of
    # them before its first request.
    case_ids = ids(40, offset=9000)
    for case_id in case_ids:
        sandbox.add_case(
            case_id,
            {
                "status": "in_progress",
                "result": "pending",
                "checks": [{"type": "criminal", "status": "in_progress", "result": None}],
            },
        )
    sandbox.add_fault(Fault("slow", times=None, delay=0.4))
    limited = {"SOURCES__KONNECTNXT__MAX_RUN_SECONDS": "8", "SOURCES__KONNECTNXT__WORKERS": "1"}
    started = time.monotonic()
    result = project.run("--cases-file", ids_file(project, case_ids), env=limited)
    took = time.monotonic() - started

    assert result.returncode == 1, result.stderr[-2000:]
    final = bgv_lines(result.stderr)
    assert len(final) == 1 and final[0].startswith("bgv: max_run_seconds = 8 reached"), result.stderr
    assert "bgv run" in result.stdout and "fetched" in result.stdout  # the summary of what was loaded
    assert took < 8 + 15
    requested = {record.case_id for record in sandbox.requests}
    assert 0 < len(requested) < len(case_ids)
    fetched = {row[0] for row in project.query("select case_id from konnectnxt.cases")}
    polled = {
        row[0] for row in project.query("select case_id from konnectnxt.tracked_cases where last_polled_at is not null")
    }
    assert fetched and fetched == polled <= requested
    assert {row[0] for row in project.query("select case_id from konnectnxt.tracked_cases")} == set(case_ids)
    run = project.query("select exit_code, error, cases_fetched from konnectnxt.runs")
    assert len(run) == 1 and run[0][0] == 1 and "max_run_seconds" in run[0][1] and run[0][2] == len(fetched)

    sandbox.faults.clear()
    rest = project.run()
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert project.query("select count(*) from konnectnxt.cases")[0][0] == len(case_ids)


def candidate_name(sandbox, case_id: str) -> str:
    return sandbox.report_data(case_id)["candidate"]["name"]


def files_holding(folder: Path, text: str) -> list[Path]:
    """Files under `folder` whose bytes hold `text` (plain or in parquet/jsonl, which keep strings as UTF-8)."""
    needle = text.encode()
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


def working_dir_bytes(project: Project) -> int:
    return sum(path.stat().st_size for path in (project.data_dir / "pipelines").rglob("*") if path.is_file())


def test_no_copy_of_a_report_outlives_its_load_and_a_dozen_runs_leave_the_working_dir_bounded(project, sandbox, clock):
    case_ids = ids(8, offset=11000)
    for case_id in case_ids:
        sandbox.add_generated_case(case_id, opened_at=clock.now - 5 * DAY, span_seconds=10 * DAY)
    working_dir = project.data_dir / "pipelines" / "bgv"
    sizes = []
    # A package kept per run (85 KB) would be 765 KB over the last 9 runs; the bound allows 32 KB.
    for run in range(12):
        result = project.run("--cases-file", ids_file(project, case_ids)) if run == 0 else project.run("--all-open")
        assert result.returncode == 0, result.stderr[-2000:]
        assert not list((working_dir / "load" / "loaded").iterdir())
        sizes.append(working_dir_bytes(project))
        clock.advance(3 * 3600)
    assert [name for case_id in case_ids if files_holding(working_dir, name := candidate_name(sandbox, case_id))] == []
    assert sizes[-1] <= sizes[2] + 32 * 1024, sizes


@needs_root
def test_a_package_that_failed_and_later_loaded_is_removed_and_forget_reaches_every_stage(
    project, sandbox, clock, tmp_path
):
    case_ids = serve_world(sandbox, clock, count=120)
    forgotten, kept = case_ids[0], case_ids[-1]
    with small_disk(tmp_path / "db_disk", "1m") as disk:
        database = disk / "bgv.duckdb"
        project.env["DESTINATION__DUCKDB__CREDENTIALS"] = str(database)
        assert_one_no_space_line(project.run("--cases-file", ids_file(project, case_ids)), disk)
        working_dir = project.data_dir / "pipelines" / "bgv"
        assert files_holding(working_dir, candidate_name(sandbox, forgotten)), "nothing was left pending"

        enlarge(disk)
        result = project.run("--forget", forgotten)
        assert result.returncode == 0, result.stderr[-2000:]
        assert files_holding(working_dir, candidate_name(sandbox, forgotten)) == []
        assert files_holding(working_dir, candidate_name(sandbox, kept)) == []
        assert (
            Warehouse(project, database).query(f"select count(*) from konnectnxt.cases where case_id = '{kept}'")[0][0]
            == 1
        )


def test_a_full_disk_is_recognised_by_errno_or_by_the_line_of_the_message_that_says_so():
    assert no_space_left(OSError(errno.ENOSPC, "No space left on device", "/data/x.parquet")) == "/data/x.parquet"
    traceback_text = (
        'Traceback (most recent call last):\n  File "/venv/dlt/destinations/sql_client.py", line 1\n'
        'TransactionException: Failed to commit: Could not write file "/mnt/db/bgv.duckdb.wal": '
        "No space left on device"
    )
    assert no_space_left(RuntimeError(traceback_text)) == "/mnt/db/bgv.duckdb.wal"
    assert no_space_left(RuntimeError("No space left on device"), fallback="/mnt/db") == "/mnt/db"
    assert no_space_left(ValueError("Invalid Input Error: No magic bytes found at end of file")) is None


def test_only_faults_outside_the_data_count_as_environmental():
    wrapped = RuntimeError("load failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert is_environmental(wrapped)
    assert is_environmental(ConnectionRefusedError("connection refused"))
    # A corrupt or missing file of the package itself can never load: not environmental, even when
    # dlt's message around it quotes code that mentions a connection.
    corrupt = RuntimeError('File "sql_client.py": with self.connection.cursor() as cursor')
    corrupt.__cause__ = ValueError("Invalid Input Error: No magic bytes found at end of file")
    assert not is_environmental(corrupt)
    assert not is_environmental(FileNotFoundError(errno.ENOENT, "No such file", "jobs/cases.parquet"))
