"""Re-renders docs/result_mix.png with the notebook's own code: runs notebooks/bgv_overview.ipynb headless.

    .venv/bin/python docs/render_result_mix.py PROJECT_DIR

PROJECT_DIR holds the database to draw from (e.g. a folder where `pipelines/bgv.py --demo` ran with
DLT_PROJECT_DIR set to it). The notebook in the repo is not modified.
"""

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "bgv_overview.ipynb"
PNG = REPO_ROOT / "docs" / "result_mix.png"


def main(project_dir: str) -> None:
    os.environ["DLT_PROJECT_DIR"] = str(Path(project_dir).resolve())  # the kernel inherits this environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(new_code_cell(f'fig_result_mix.savefig(r"{PNG}", dpi=100, bbox_inches="tight")'))
    with tempfile.TemporaryDirectory() as cwd:
        NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    print("\n".join(line for line in printed.splitlines() if line.startswith("Opened ")))
    print(f"wrote {PNG} ({PNG.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
