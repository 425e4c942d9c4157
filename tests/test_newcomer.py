"""A newcomer's first hour: the printed query runs in the installed duckdb command, dlt's own tools find
the pipeline, the README's commands and snippets work, the demo starts over, the outputs agree."""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import duckdb

from conftest import REPO_ROOT, Project, new_project
from konnectnxt.duckdb_file import _unopenable
from konnectnxt.tables import TABLES

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
NO_KEY = {"SOURCES__KONNECTNXT__API_KEY": ""}


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "PIPELINES__", "DLT_"))
    }
    return {**env, "RUNTIME__DLTHUB_TELEMETRY": "false", **extra}


def python_in(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """`code` run by this environment's python from `cwd`, as a user's script or notebook cell would be."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120, check=False
    )


def test_the_query_the_summary_prints_runs_as_printed_in_the_installed_duckdb_command(project):
    result = project.run("--demo", env=NO_KEY)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("query:"))
    command = shlex.split(line.split("query:", 1)[1])
    assert Path(command[0]).name == "duckdb" and Path(command[0]).parent == Path(sys.executable).parent
    answer = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert answer.returncode == 0, answer.stderr
    assert "in_progress" in answer.stdout and "completed" in answer.stdout


def fake_checkout(root: Path) -> Path:
    """A folder that looks like a clone to dlt's tools: pipelines/bgv.py and .dlt/ (settings)."""
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "bgv.py").write_text("# marker: the real script is in the repo\n")
    (root / "notebooks").mkdir()
    (root / ".dlt").mkdir()
    return root


def test_dlt_attach_and_dlts_own_cli_find_the_pipeline_from_the_repo_root_and_a_notebook_folder(tmp_path, sandbox):
    checkout = fake_checkout(tmp_path / "checkout")
    project = new_project(checkout, sandbox)
    assert project.run("--demo", env={**NO_KEY, "DLT_DATA_DIR": None}).returncode == 0
    assert (checkout / ".dlt" / "data" / "pipelines" / "bgv_demo").is_dir()
    attach = "import dlt; print(dlt.attach('bgv_demo').dataset()('select count(*) from cases').fetchall())"
    for cwd in (checkout, checkout / "notebooks"):
        done = python_in(attach, cwd)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "[(50,)]" in done.stdout
    dlt_cli = Path(sys.executable).parent / "dlt"
    info = subprocess.run(
        [str(dlt_cli), "pipeline", "bgv_demo", "info"],
        cwd=checkout,
        check=False,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0, info.stderr[-2000:]
    assert "pipeline_name: bgv_demo" in info.stdout


def test_the_readmes_python_snippets_run_from_the_repo_root(tmp_path, sandbox):
    checkout = fake_checkout(tmp_path / "checkout")
    project = new_project(checkout, sandbox)
    assert project.run("--demo", env={**NO_KEY, "DLT_DATA_DIR": None}).returncode == 0
    (checkout / "bgv_demo.duckdb").rename(checkout / "bgv.duckdb")  # what the snippets read: the real warehouse
    with duckdb.connect(str(checkout / "bgv.duckdb")) as connection:
        connection.execute("checkpoint")
    project.run("--all-open", env={"DLT_DATA_DIR": None})  # gives pipeline bgv its working dir on that file
    snippets = re.findall(r"^```python\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)
    assert len(snippets) >= 2
    for snippet in snippets:
        done = python_in(snippet, checkout)
        assert done.returncode == 0, snippet + done.stderr[-2000:]


def test_demo_reset_starts_the_demo_over_and_never_touches_the_real_warehouse(project, sandbox):
    sandbox.add_case("a" * 32, {"status": "in_progress", "result": "pending", "checks": []})
    assert project.run("--case-id", "a" * 32).returncode == 0
    real = project.duckdb_file.read_bytes()
    demo = project.root / "bgv_demo.duckdb"
    assert project.run("--demo", env=NO_KEY).returncode == 0
    with duckdb.connect(str(demo)) as connection:  # the demo is an hour and a half old: every case finished
        connection.execute("update konnectnxt.tracked_cases set added_at = added_at - interval 90 minute")
    aged = project.run("--demo", env=NO_KEY)
    assert aged.returncode == 0
    assert project.query("select count(*) from konnectnxt.cases where status = 'in_progress'", file=demo) == [(0,)]
    reset = project.run("--demo", "--reset", env=NO_KEY)
    assert reset.returncode == 0, reset.stderr
    assert project.query("select count(*) from konnectnxt.cases where status = 'in_progress'", file=demo) == [(40,)]
    assert project.duckdb_file.read_bytes() == real
    assert project.run("--reset").returncode == 2  # without --demo: a usage error, nothing removed


def test_the_first_summary_counts_tracked_and_due_cases_at_the_same_moment(project):
    first = project.run("--demo", env=NO_KEY)
    assert re.search(r"tracked cases:\s+50 \(50 open\)", first.stdout), first.stdout
    assert re.search(r"due:\s+50\b", first.stdout)


def test_forget_on_a_fresh_clone_says_there_is_nothing_to_forget_and_creates_nothing(project):
    result = project.run("--forget", "a" * 32)
    assert result.returncode == 0, result.stderr
    assert "nothing to forget" in result.stdout and "load package" not in result.stdout
    assert not project.duckdb_file.exists()


def test_executed_notebook_copies_are_ignored_by_git():
    checked = subprocess.run(
        ["git", "check-ignore", "-q", "notebooks/bgv_overview.nbconvert.ipynb"], cwd=REPO_ROOT, check=False
    )
    assert checked.returncode == 0


def test_the_readmes_commands_use_the_virtual_environment_and_its_links_stay_in_the_repo():
    blocks = re.findall(r"^```(?:sh)?\n(.*?)^```", README, flags=re.DOTALL | re.MULTILINE)
    for block in blocks:
        for line in block.splitlines():
            assert not re.match(r"\s*(python|pip|duckdb|jupyter|pytest)\b", line), line
    bare = re.findall(r"(?<!\.venv/bin/)\bpython pipelines/bgv\.py", README)
    assert bare == []
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert not [
        link
        for link in links
        if link.startswith("..") or (not link.startswith(("#", "http")) and not (REPO_ROOT / link).exists())
    ]


def test_the_readmes_tables_section_lists_every_column_of_every_table():
    section = README.split("## Tables", 1)[1].split("\n## ", 1)[0]
    for table in TABLES:
        row = next((line for line in section.splitlines() if line.startswith(f"| `{table.name}` |")), "")
        assert row, table.name
        missing = [column for column in table.columns if f"`{column}`" not in row]
        assert missing == [], (table.name, missing)


def test_the_committed_config_holds_no_secret_so_dlt_tools_can_read_it():
    settings = tomllib.loads((REPO_ROOT / ".dlt" / "config.toml").read_text(encoding="utf-8"))
    assert "credentials" not in settings.get("destination", {}).get("duckdb", {})
    assert "api_key" not in settings.get("sources", {}).get("konnectnxt", {})


def test_an_unreachable_api_on_the_very_first_run_leaves_the_suggested_query_working(project: Project):
    closed = {"SOURCES__KONNECTNXT__BASE_URL": "http://127.0.0.1:9/api", "SOURCES__KONNECTNXT__MAX_ATTEMPTS": "1"}
    assert project.run("--case-id", "a" * 32, env=closed).returncode == 2
    assert project.query("select status, result, count(*) from konnectnxt.cases group by 1, 2") == []


def test_a_file_written_by_a_newer_duckdb_is_one_line_naming_both_versions_and_what_to_do():
    # DuckDB's own words when duckdb-cli 1.5 opened a file duckdb 2.0 wrote (from the issue).
    message = (
        "IO Error: Trying to read a database file with version number 69, but we can only read versions "
        "between 64 and 68.\nThe database file was created with a newer version of DuckDB."
    )
    line = _unopenable("/data/bgv.duckdb", message)
    assert "\n" not in line and "/data/bgv.duckdb" in line
    assert "storage version 69" in line and f"duckdb {duckdb.__version__}" in line and "64 to 68" in line
    assert "pip install -e ." in line
