"""notebooks/bgv_overview.ipynb executed headless (nbclient, the venv's python3 kernel) against real demo databases."""

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "bgv_overview.ipynb"
BGV_SCRIPT = REPO_ROOT / "pipelines" / "bgv.py"
DEMO_FILE = "bgv_demo.duckdb"
# Settings from the developer's shell must not leak into the demo run or the kernel.
OWN_ENV_PREFIXES = ("SOURCES__", "DESTINATION__", "PIPELINES__", "DLT_", "RUNTIME__")
# Hints a Jupyter or VS Code session may leave in the environment about where a notebook lives.
NOTEBOOK_HINTS = ("JPY_SESSION_NAME",)
CELL_TIMEOUT = 120


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project dir holding bgv_demo.duckdb made by the real CLI (first run: 50 cases, 10 finished)."""
    root = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
    env.update(DLT_PROJECT_DIR=str(root), DLT_DATA_DIR=str(root / "dlt"), RUNTIME__DLTHUB_TELEMETRY="false")
    completed = subprocess.run(
        [sys.executable, str(BGV_SCRIPT), "--demo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (root / DEMO_FILE).is_file()
    return root


def copy_database(source: Path, target: Path) -> Path:
    """A copy of a DuckDB file, checkpointed first so that nothing is left in a .wal beside it."""
    with duckdb.connect(str(source)) as connection:
        connection.execute("checkpoint")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def python3_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The "python3" kernel of this interpreter, registered in a temporary dir when no kernelspec provides it."""
    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        prefix = tmp_path / "jupyter_prefix"
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name", "python3"],
            check=True,
            capture_output=True,
        )
        jupyter_path = [str(prefix / "share" / "jupyter"), os.environ.get("JUPYTER_PATH", "")]
        monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(p for p in jupyter_path if p))
        KernelSpecManager().get_kernel_spec("python3")
    return "python3"


def run_notebook(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cwd: Path,
    env: dict[str, str],
    while_kernel_alive: Callable[[], None] = lambda: None,
    pipeline: str = "bgv",
) -> tuple[nbformat.NotebookNode, str]:
    """Executes every cell (any error fails), in a kernel started in `cwd` with exactly `env` of our settings.

    `while_kernel_alive` runs after the last cell, before the kernel shuts down. Returns the executed notebook
    and the text it printed.
    """
    for key in list(os.environ):
        if key.startswith(OWN_ENV_PREFIXES) or key in NOTEBOOK_HINTS:
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # nbclient starts the kernel with this process's environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    setup = next(cell for cell in notebook.cells if 'PIPELINE = "bgv"' in cell.source)
    setup.source = setup.source.replace('PIPELINE = "bgv"', f"PIPELINE = {pipeline!r}")
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=python3_kernel(monkeypatch, tmp_path),
        resources={"metadata": {"path": str(cwd)}},
    )
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on the first failing cell
        while_kernel_alive()
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    return notebook, printed


def count_charts(notebook: nbformat.NotebookNode) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def open_read_write(path: Path) -> None:
    with duckdb.connect(str(path)) as connection:
        [(cases,)] = connection.sql("select count(*) from konnectnxt.cases").fetchall()
    assert cases > 0


def test_notebook_runs_on_the_demo_database_and_lets_go_of_it(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_file = (demo_dir / DEMO_FILE).resolve()
    cwd = tmp_path / "kernel_cwd"  # outside any checkout: only DLT_PROJECT_DIR can lead to the file
    cwd.mkdir()
    notebook, printed = run_notebook(
        monkeypatch,
        tmp_path,
        cwd,
        {"DLT_PROJECT_DIR": str(demo_dir)},
        # The kernel is still running: the notebook must have closed the file, so a pipeline run could write.
        while_kernel_alive=lambda: open_read_write(demo_file),
        pipeline="bgv_demo",
    )
    assert f"Opened {demo_file} read-only" in printed
    assert "Not found in this database" not in printed
    # A first demo run has nothing measurable yet: those sections say so instead of failing.
    assert "No SLA breaches yet." in printed
    assert "No turnaround to chart yet" in printed
    assert count_charts(notebook) >= 4  # status funnel, result mix, aging, discrepancy hot spots
    open_read_write(demo_file)


def test_every_section_has_data_on_an_aged_copy_found_through_the_configured_credentials(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cases first seen 1 to 20 days ago: checks now have turnaround, open cases age, SLAs are breached.
    aged = copy_database(demo_dir / DEMO_FILE, tmp_path / "warehouse" / "aged.duckdb")
    with duckdb.connect(str(aged)) as connection:
        connection.execute(
            "update konnectnxt.cases set first_seen_at = first_seen_at"
            " - to_days(cast(abs(hash(case_id)) % 20 + 1 as integer))"
        )
    cwd = tmp_path / "kernel_cwd"
    cwd.mkdir()
    notebook, printed = run_notebook(
        monkeypatch,
        tmp_path,
        cwd,
        {"DLT_PROJECT_DIR": str(tmp_path), "DESTINATION__DUCKDB__CREDENTIALS": "warehouse/aged.duckdb"},
        while_kernel_alive=lambda: open_read_write(aged),
    )
    assert f"Opened {aged.resolve()} read-only" in printed
    assert "checks over their SLA" in printed
    assert "No SLA breaches yet." not in printed
    assert "completed checks timed" in printed
    assert count_charts(notebook) == 6  # every section draws its chart
    open_read_write(aged)


def test_an_empty_database_in_a_checkout_found_from_the_kernel_cwd_shows_every_section_as_empty(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A checkout without DLT_PROJECT_DIR: the notebook walks up from its folder to the one holding
    # pipelines/bgv.py and reads [destination.duckdb] credentials from its .dlt/config.toml.
    checkout = tmp_path / "checkout"
    (checkout / "pipelines").mkdir(parents=True)
    (checkout / "pipelines" / "bgv.py").write_text("# marker\n", encoding="utf-8")
    (checkout / "notebooks").mkdir()
    (checkout / ".dlt").mkdir()
    (checkout / ".dlt" / "config.toml").write_text(
        '[destination.duckdb]\ncredentials = "data/empty.duckdb"\n', encoding="utf-8"
    )
    empty = copy_database(demo_dir / DEMO_FILE, checkout / "data" / "empty.duckdb")
    with duckdb.connect(str(empty)) as connection:
        tables = connection.sql(
            "select table_name from information_schema.tables"
            " where table_schema = 'konnectnxt' and table_type = 'BASE TABLE' and table_name not like '\\_dlt%' escape '\\'"
        ).fetchall()
        for (table,) in tables:
            connection.execute(f'delete from konnectnxt."{table}"')
    notebook, printed = run_notebook(monkeypatch, tmp_path, checkout / "notebooks", {})
    assert f"Opened {empty.resolve()} read-only" in printed
    for message in [
        "No pipeline runs recorded yet.",
        "No cases in the database yet.",
        "No checks in the database yet.",
        "No completed checks yet, so there is no turnaround to report.",
        "No open cases: nothing is waiting.",
        "No completed checks yet, so no discrepancy rates.",
        "No SLA targets in the database",
        "No SLA breaches yet.",
    ]:
        assert message in printed
    assert count_charts(notebook) == 0


def test_the_real_warehouse_missing_is_said_and_the_demo_never_shown_in_its_place(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "kernel_cwd"
    cwd.mkdir()
    with pytest.raises(CellExecutionError) as raised:
        run_notebook(monkeypatch, tmp_path, cwd, {"DLT_PROJECT_DIR": str(demo_dir)})
    message = str(raised.value).splitlines()
    said = [line for line in message if "no warehouse at" in line]
    assert said and f"no warehouse at {demo_dir / 'bgv.duckdb'}" in said[-1] and "PIPELINE = 'bgv_demo'" in said[-1]
    assert not any(line.startswith("Opened") for line in message)


def test_the_committed_notebook_carries_no_outputs_and_no_execution_counts() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], cell.source[:80]
        assert cell.execution_count is None, cell.source[:80]
    assert notebook.metadata.kernelspec.name == "python3"
