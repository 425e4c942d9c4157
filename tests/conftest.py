"""Fixtures: a real sandbox on 127.0.0.1, a project dir per test, and the real CLI as a subprocess."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from konnectnxt import case_registry
from konnectnxt.case_ids import CaseIdBatch, add_flag_ids
from konnectnxt.config import KonnectNxtConfiguration
from konnectnxt.demo.in_memory import InMemoryClient
from konnectnxt.demo.sandbox import Sandbox
from konnectnxt.polling import RunStats
from konnectnxt.run import RunReport, RunRequest, fetch_and_load, pick_due, register
from konnectnxt.tables import TABLES, TRACKED_CASES
from konnectnxt.warehouse import Warehouse, open_warehouse
from konnectnxt.warehouse_check import prepare_warehouse
from prewarmed_cli import PrewarmedCli

pytest_plugins = ["postgres_fixtures"]  # postgres_server, postgres_url

REPO_ROOT = Path(__file__).resolve().parent.parent
BGV_SCRIPT = REPO_ROOT / "pipelines" / "bgv.py"
SAMPLES = Path(__file__).resolve().parent / "samples"
TEST_API_KEY = "kx-test-6f1d2c9a8b7e4f30a1b2c3d4-SECRET"
# Settings from the developer's shell must not leak into a test's run.
_OWN_ENV_PREFIXES = ("SOURCES__", "DESTINATION__", "PIPELINES__", "DLT_", "RUNTIME__")


class FakeClock:
    """The sandbox's notion of now; tests move it to make cases progress."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Iterator[Sandbox]:
    with Sandbox(api_key=TEST_API_KEY, clock=clock) as server:
        yield server


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Project:
    """A project dir (DLT_PROJECT_DIR) with its own DuckDB file and dlt working dir."""

    root: Path
    sandbox: Sandbox
    env: dict[str, str] = field(default_factory=dict)
    # The warehouse is this PostgreSQL database instead of the project's DuckDB file.
    postgres_url: str | None = None

    @property
    def duckdb_file(self) -> Path:
        return self.root / "bgv.duckdb"

    @property
    def data_dir(self) -> Path:
        return self.root / "dlt_data"

    def environment(self, env: dict[str, str | None] | None = None) -> dict[str, str]:
        """The run's environment: the developer's shell minus our settings, the project's, then `env`
        (a None value removes the variable)."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_ENV_PREFIXES)}
        merged = {**inherited, **self.env, **(env or {})}
        return {k: v for k, v in merged.items() if v is not None}

    def run(self, *args: str, env: dict[str, str | None] | None = None, timeout: float = 120) -> CliResult:
        """`python pipelines/bgv.py ARGS` in a new process (forked from one that imported dlt already)."""
        return CliResult(*prewarmed_cli().run(list(args), self.environment(env), self.root, timeout))

    def start(self, *args: str, env: dict[str, str | None] | None = None) -> subprocess.Popen:
        """The CLI in the background, stderr readable line by line (for kill and overlap tests)."""
        return subprocess.Popen(
            [sys.executable, str(BGV_SCRIPT), *args],
            cwd=self.root,
            env=self.environment(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def query(self, sql: str, file: Path | None = None) -> list[tuple]:
        """Rows of `sql` in the project's warehouse (its PostgreSQL database if it has one), or in `file`."""
        if self.postgres_url and file is None:
            import psycopg2

            with closing(psycopg2.connect(self.postgres_url)) as connection, connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall() if cursor.description else []
        return read_duckdb_file(file or self.duckdb_file, sql)

    def leave_pending_registration(self, case_id: str, source: str, pipelines_dir: Path | None = None) -> None:
        """What a run killed after normalize leaves behind: a load package registering `case_id`."""
        connection = duckdb.connect(str(self.duckdb_file))
        try:
            pipeline = dlt.pipeline(
                "bgv",
                pipelines_dir=str(pipelines_dir or self.data_dir / "pipelines"),
                dataset_name="konnectnxt",
                destination=dlt.destinations.duckdb(credentials=connection),
            )
            row = {"case_id": case_id, "source": source, "added_at": datetime.now(UTC), "poll_step": 0}
            pipeline.extract(case_registry([{**row, "consecutive_failures": 0}]), loader_file_format="parquet")
            pipeline.normalize()
            assert pipeline.has_pending_data
        finally:
            connection.close()

    def write(self, name: str, content: str | bytes | Any) -> Path:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return path


def wait_for_requests(sandbox: Sandbox, count: int, timeout: float = 60) -> None:
    """Until the sandbox has received `count` requests (or `timeout` passed): a signal then lands mid-fetch."""
    deadline = time.monotonic() + timeout
    while len(sandbox.requests) < count and time.monotonic() < deadline:
        time.sleep(0.005)


_READER: list[duckdb.DuckDBPyConnection] = []


def read_duckdb_file(path: Path, sql: str) -> list[tuple]:
    """Rows of `sql` in the DuckDB file `path`, opened read-only for this query alone.

    The file is attached to one in-memory database kept by the test process, under the name a
    connection to it would give its catalog, and detached again: a new DuckDB instance per query cost
    about 30 ms of CPU, a thousand times a suite, attaching a sixth of that. Like a read-only
    connection, the attachment sees what is committed and holds the file only while the query runs.
    """
    if not _READER:
        _READER.append(duckdb.connect(":memory:"))
    reader = _READER[0]
    catalog, literal = '"' + path.stem.replace('"', '""') + '"', str(path).replace("'", "''")
    reader.execute(f"attach '{literal}' as {catalog} (read_only)")
    try:
        reader.execute(f"use {catalog}")
        return reader.sql(sql).fetchall()
    finally:
        reader.execute("use memory")
        reader.execute(f"detach {catalog}")


_CLI: list[PrewarmedCli] = []


def prewarmed_cli() -> PrewarmedCli:
    if not _CLI:
        _CLI.append(PrewarmedCli())
    return _CLI[0]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than the machine has cores. A CLI test waits on sockets, locks and child
    processes part of the time; on the 2-core machine three workers took 5 min 17 s to 5 min 46 s and two
    6 min 10 s. Four were faster still (4 min 49 s to 5 min 22 s) but let timing tests miss their windows."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores + 1


# Where the machine has a memory disk (Linux, CI), the tests' dirs go there: every run writes and
# renames hundreds of small files and a DuckDB file, which costs a tenth of the suite's time on a disk.
MEMORY_DISK = Path("/dev/shm")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    is_worker = hasattr(config, "workerinput")  # an xdist worker is handed its dir by the controller
    if config.option.basetemp is None and not is_worker and MEMORY_DISK.is_dir() and os.access(MEMORY_DISK, os.W_OK):
        config.option.basetemp = config._bgv_memory_basetemp = tempfile.mkdtemp(prefix="bgv-tests-", dir=MEMORY_DISK)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for cli in _CLI:
        cli.close()
    memory_basetemp = getattr(session.config, "_bgv_memory_basetemp", None)
    if memory_basetemp and exitstatus == 0:  # a failed session's dirs stay for a look, as pytest's own do
        shutil.rmtree(memory_basetemp, ignore_errors=True)


def new_project(root: Path, sandbox: Sandbox) -> Project:
    """A project in `root` talking to `sandbox`: no politeness delay and fast retries, for tests."""
    env = {
        "DLT_PROJECT_DIR": str(root),
        "DLT_DATA_DIR": str(root / "dlt_data"),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "SOURCES__KONNECTNXT__API_KEY": TEST_API_KEY,
        "SOURCES__KONNECTNXT__BASE_URL": sandbox.base_url,
        "SOURCES__KONNECTNXT__MIN_POLL_INTERVAL": "0",
        "SOURCES__KONNECTNXT__RETRY_BASE_DELAY": "0.01",
        "SOURCES__KONNECTNXT__WORKERS": "4",
    }
    return Project(root, sandbox, env)


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox) -> Project:
    return new_project(tmp_path, sandbox)


def on_postgres(project: Project, postgres_url: str) -> Project:
    """`project` with its warehouse in the PostgreSQL database `postgres_url`."""
    project.postgres_url = postgres_url
    project.env["PIPELINES__BGV__DESTINATION_TYPE"] = "postgres"
    project.env["DESTINATION__POSTGRES__CREDENTIALS"] = postgres_url
    return project


@pytest.fixture(params=["duckdb", "postgres"])
def any_project(request: pytest.FixtureRequest, tmp_path: Path, sandbox: Sandbox) -> Project:
    """A project whose warehouse is a DuckDB file, or a database on the session's PostgreSQL server."""
    project = new_project(tmp_path, sandbox)
    return on_postgres(project, request.getfixturevalue("postgres_url")) if request.param == "postgres" else project


@pytest.fixture
def postgres_project(tmp_path: Path, sandbox: Sandbox, postgres_url: str) -> Project:
    return on_postgres(new_project(tmp_path, sandbox), postgres_url)


@pytest.fixture
def documented_report() -> dict:
    return json.loads((SAMPLES / "report-json-documented.json").read_text(encoding="utf-8"))


# Every table that holds case data, polling state aside.
REPORT_TABLES = [table.name for table in TABLES.per_case if table is not TRACKED_CASES]


def warehouse_columns(project: "Project | InProcess", table: str) -> list[str]:
    rows = project.query(
        "select column_name from information_schema.columns where table_schema = 'konnectnxt' "
        f"and table_name = '{table}' order by ordinal_position"
    )
    return [row[0] for row in rows]


def snapshot(project: "Project | InProcess") -> dict:
    """Report data, history and polling state, ignoring dlt's own columns."""
    state = {}
    for table in REPORT_TABLES:
        columns = [name for name in warehouse_columns(project, table) if not name.startswith("_dlt")]
        selected = ", ".join(f'"{name}"' for name in columns)
        state[table] = sorted(map(repr, project.query(f"select {selected} from konnectnxt.{table}")))
    state["tracked_cases"] = sorted(
        project.query(
            "select case_id, last_polled_at, next_poll_at, poll_step, consecutive_failures, last_error, last_status, "
            "report_hash from konnectnxt.tracked_cases"
        )
    )
    return state


def assert_no_duplicates(project: "Project | InProcess") -> None:
    """No two rows of a keyed table share their key."""
    for table in TABLES:
        if table.key and table.per_case:
            key = ", ".join(table.key)
            total = project.query(f"select count(*) from konnectnxt.{table.name}")[0][0]
            distinct = project.query(f"select count(*) from (select distinct {key} from konnectnxt.{table.name}) keys")[
                0
            ][0]
            assert total == distinct, f"duplicate rows in {table.name}"


@dataclass
class InProcess:
    """The run's steps in this process, on a real DuckDB file, with reports served from memory."""

    warehouse: Warehouse
    reports: dict[str, Any]
    configuration: KonnectNxtConfiguration
    client: InMemoryClient

    def poll(
        self, *case_ids: str, all_open: bool = True, refresh_completed: bool = False, **settings: Any
    ) -> RunReport:
        """Register `case_ids`, then fetch and load what is due, as one run does (no lock, no views)."""
        configuration = KonnectNxtConfiguration(**{**self.configuration.__dict__, **settings})
        report = RunReport("bgv", RunStats(uuid.uuid4().hex), datetime.now(UTC))
        batch = CaseIdBatch()
        add_flag_ids(batch, case_ids)
        prepare_warehouse(self.warehouse)
        register(self.warehouse, batch, report)
        request = RunRequest(all_open=all_open, refresh_completed=refresh_completed)
        due = pick_due(self.warehouse, request, configuration, report)
        fetch_and_load(self.warehouse, due, self.client, configuration, report)
        return report

    def query(self, sql: str) -> list[tuple]:
        return list(self.warehouse.client.execute_sql(sql) or [])


@pytest.fixture(params=["duckdb", "postgres"])
def in_process(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcess]:
    """The run's steps in this process on a new warehouse: a DuckDB file, or a PostgreSQL database."""
    for key in list(os.environ):
        if key.startswith(_OWN_ENV_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    if request.param == "postgres":
        monkeypatch.setenv("PIPELINES__BGV__DESTINATION_TYPE", "postgres")
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", request.getfixturevalue("postgres_url"))
    context = Container()[PluggableRunContext]
    original = context.context.run_dir
    context.reload(str(tmp_path))  # dlt reads this test's (empty) settings, not the checkout's
    reports: dict[str, Any] = {}
    try:
        with open_warehouse("bgv", lock_wait_seconds=5) as warehouse:
            yield InProcess(
                warehouse, reports, KonnectNxtConfiguration(min_poll_interval=0, workers=2), InMemoryClient(reports)
            )
    finally:
        context.reload(original)


def serve_cases(
    sandbox: Sandbox, case_ids: list[str], status: str = "in_progress", check_result: Any = "pending"
) -> None:
    """Each id answers a report in `status` holding one criminal check in progress."""
    for case_id in case_ids:
        check = {"type": "criminal", "status": "in_progress", "result": check_result}
        sandbox.add_case(case_id, {"status": status, "result": "pending", "checks": [check]})


def bgv_lines(stderr: str) -> list[str]:
    """The `bgv: ...` lines of stderr (the final word of a run), without their time prefix."""
    lines = []
    for line in stderr.splitlines():
        time, _, rest = line.partition(" ")
        if rest.startswith("bgv: ") and time[:4].isdigit():
            lines.append(rest)
    return lines


def ids(count: int, offset: int = 0) -> list[str]:
    """`count` distinct case ids, from `offset` + 1 up."""
    return [f"{offset + i + 1:032x}" for i in range(count)]


def ids_file(project: "Project", case_ids: list[str]) -> str:
    """A cases file holding `case_ids`, one per line, in the project."""
    return str(project.write("ids.txt", "\n".join(case_ids) + "\n"))
