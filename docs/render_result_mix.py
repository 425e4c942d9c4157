"""Re-renders docs/result_mix.png with the notebook's own code: runs notebooks/bgv_overview.ipynb headless.

    .venv/bin/python docs/render_result_mix.py [--pipeline bgv_demo|bgv] [--project-dir DIR]

Draws from the demo (`bgv_demo`, fake candidates) unless told otherwise; the project dir (where the
pipeline's `.dlt/` settings and warehouse are) is this repo unless given. The notebook in the repo is
not modified.
"""

import argparse
import os
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "bgv_overview.ipynb"
PNG = REPO_ROOT / "docs" / "result_mix.png"


def main(pipeline: str, project_dir: Path) -> None:
    os.environ["DLT_PROJECT_DIR"] = str(project_dir.resolve())  # the kernel inherits this environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    setup = next(cell for cell in notebook.cells if 'PIPELINE = "bgv"' in cell.source)
    setup.source = setup.source.replace('PIPELINE = "bgv"', f"PIPELINE = {pipeline!r}")
    notebook.cells.append(new_code_cell(f'fig_result_mix.savefig(r"{PNG}", dpi=100, bbox_inches="tight")'))
    with tempfile.TemporaryDirectory() as cwd:
        NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    print("\n".join(line for line in printed.splitlines() if line.startswith("Opened ")))
    print(f"wrote {PNG} ({PNG.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="bgv_demo", choices=["bgv_demo", "bgv"])
    parser.add_argument("--project-dir", type=Path, default=REPO_ROOT)
    arguments = parser.parse_args()
    main(arguments.pipeline, arguments.project_dir)
