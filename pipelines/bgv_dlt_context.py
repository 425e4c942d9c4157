"""dlt's run context inside a bgv-warehouse checkout: its `.dlt/` settings, its working dirs, its relative paths.

Registered as a dlt plugin (pyproject.toml, `[project.entry-points.dlt]`), so that dlt's own tools see
what `pipelines/bgv.py` sees from anywhere inside the checkout: `dlt pipeline bgv_demo info`,
`dlt.attach("bgv").dataset()` from the repo root or from a notebook. Outside a checkout it does nothing.
"""

import os
from pathlib import Path
from typing import Any

from dlt.common import known_env
from dlt.common.configuration import plugins
from dlt.common.runtime.run_context import RunContext

# dlt's working dirs, relative to the project dir (git-ignored): one per pipeline under pipelines/.
DATA_DIR = os.path.join(".dlt", "data")


def project_data_dir(project_dir: str) -> str:
    """Where dlt keeps the working dirs of the pipelines of `project_dir` (DLT_DATA_DIR overrides it)."""
    return os.environ.get(known_env.DLT_DATA_DIR) or os.path.join(project_dir, DATA_DIR)


def checkout_root(start: Path) -> Path | None:
    """The bgv-warehouse checkout holding `start`, if any."""
    for folder in (start, *start.parents):
        if (folder / "pipelines" / "bgv.py").is_file() and (folder / ".dlt").is_dir():
            return folder
    return None


class CheckoutRunContext(RunContext):
    """dlt's default context, rooted at the checkout instead of the current directory and ~/.dlt."""

    @property
    def run_dir(self) -> str:
        return os.environ.get(known_env.DLT_PROJECT_DIR, self._init_run_dir)

    @property
    def local_dir(self) -> str:
        return os.environ.get(known_env.DLT_LOCAL_DIR, self.run_dir)

    @property
    def data_dir(self) -> str:
        return project_data_dir(self.run_dir)


@plugins.hookimpl(specname="plug_run_context", tryfirst=True)
def plug_checkout_context(run_dir: str | None, runtime_kwargs: dict[str, Any] | None) -> RunContext | None:
    start = Path(os.environ.get(known_env.DLT_PROJECT_DIR) or run_dir or ".").resolve()
    root = checkout_root(start)
    return CheckoutRunContext(str(root)) if root else None
