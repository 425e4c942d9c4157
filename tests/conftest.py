"""Fixtures: a real sandbox on 127.0.0.1, a project dir per test, and the real CLI as a subprocess."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from prewarmed_cli import PrewarmedCli

from konnectnxt.demo.sandbox import Sandbox

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

    @property
    def duckdb_file(self) -> Path:
        return self.root / "bgv.duckdb"

    @property
    def data_dir(self) -> Path:
        return self.root / "dlt_data"

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_ENV_PREFIXES)}
        return {**inherited, **self.env, **(env or {})}

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:
        """`python pipelines/bgv.py ARGS` in a new process (forked from one that imported dlt already)."""
        return CliResult(*prewarmed_cli().run(list(args), self.environment(env), self.root, timeout))

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
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
        with duckdb.connect(str(file or self.duckdb_file), read_only=True) as connection:
            return connection.sql(sql).fetchall()

    def leave_pending_registration(self, case_id: str, source: str) -> None:
        """What a run killed after normalize leaves behind: a load package registering `case_id`."""
        script = (
            "import dlt, sys; from datetime import datetime, timezone; sys.path.insert(0, sys.argv[1]); "
            "from konnectnxt import case_registry; "
            "p = dlt.pipeline('bgv', pipelines_dir=sys.argv[2], dataset_name='konnectnxt', "
            "destination=dlt.destinations.duckdb(sys.argv[3])); "
            "p.extract(case_registry([{'case_id': sys.argv[4], 'source': sys.argv[5], "
            "'added_at': datetime.now(timezone.utc), 'poll_step': 0, 'consecutive_failures': 0}]), "
            "loader_file_format='parquet'); p.normalize(); assert p.has_pending_data"
        )
        pipelines = str(REPO_ROOT / "pipelines")
        subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                pipelines,
                str(self.data_dir / "pipelines"),
                str(self.duckdb_file),
                case_id,
                source,
            ],
            check=True,
            env={**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
            capture_output=True,
        )

    def write(self, name: str, content: str | bytes | Any) -> Path:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return path


_CLI: list[PrewarmedCli] = []


def prewarmed_cli() -> PrewarmedCli:
    if not _CLI:
        _CLI.append(PrewarmedCli())
    return _CLI[0]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for cli in _CLI:
        cli.close()


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


@pytest.fixture
def documented_report() -> dict:
    return json.loads((SAMPLES / "report-json-documented.json").read_text(encoding="utf-8"))


REPORT_TABLES = ["cases", "checks", "entries", "check_fields", "check_documents", "fetch_errors"]


def snapshot(project: Project) -> dict:
    """Report data and polling state, ignoring dlt's own columns."""
    state = {}
    for table in REPORT_TABLES:
        columns = [c[0] for c in project.query(f"describe konnectnxt.{table}") if not c[0].startswith("_dlt")]
        selected = ", ".join(f'"{name}"' for name in columns)
        state[table] = sorted(map(repr, project.query(f"select {selected} from konnectnxt.{table}")))
    state["tracked_cases"] = sorted(
        project.query(
            "select case_id, last_polled_at, next_poll_at, poll_step, consecutive_failures, last_error, last_status, "
            "report_hash from konnectnxt.tracked_cases"
        )
    )
    return state
