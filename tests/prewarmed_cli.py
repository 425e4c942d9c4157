"""The real CLI, started from a process that has already imported dlt and the pipeline's modules.

Each call forks that process: the child sets argv, environment and working dir, runs
`pipelines/bgv.py` as `__main__` and exits with its exit code, exactly like `python pipelines/bgv.py`
in a new process, minus the second of imports that would otherwise dominate the suite's time.
pyarrow and pandas (which every run's parquet writing imports) are imported too: pyarrow's allocator
threads are not copied into a child and it re-creates its thread pools after a fork; the server's own
Python code runs no thread, so forking it is safe.

The imported objects are frozen out of the garbage collector (`gc.freeze`) before the first fork: a
child's full collections then skip them instead of walking, and so copying, every page of the server's
heap, which cost each run about a tenth of its CPU. A child still collects everything it creates.

Run as a script, this module is the server: it reads one JSON request per line on stdin and
answers with the child's pid, then its exit code.
"""

import ast
import atexit
import gc
import json
import os
import runpy
import select
import signal
import subprocess
import sys
import traceback
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BGV_SCRIPT = REPO_ROOT / "pipelines" / "bgv.py"
PREIMPORTED = [
    "dlt",
    "dlt.normalize",
    "dlt.load",
    "dlt.destinations.impl.duckdb.duck",
    "duckdb",
    "requests",
    "konnectnxt",
    "konnectnxt.run",
    "konnectnxt.forget",
    "konnectnxt.demo",
    "pyarrow",
    "pyarrow.parquet",
    "pandas",
    # imported on first use in a run: the views' SQL dialect, dlt's helpers (bgv.py's own imports: below)
    "sqlglot.dialects.duckdb",
    "pyarrow.pandas_compat",
    "dlt.common.libs.pyarrow",
    "dlt.sources.helpers.requests",
    "dlt.common.normalizers.json.relational_no_coercion",
    "pendulum.locales.en.locale",
    "konnectnxt.reading",
    # a run into PostgreSQL
    "psycopg2",
    "dlt.destinations.impl.postgres.postgres",
    "sqlglot.dialects.postgres",
]


class PrewarmedCli:
    """Client side: runs the CLI in a forked child of the server and waits for it."""

    def __init__(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        )

    def run(self, args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str, str]:
        out, err = cwd / f".cli-{os.getpid()}.out", cwd / f".cli-{os.getpid()}.err"
        request = {
            "argv": [str(BGV_SCRIPT), *args],
            "env": env,
            "cwd": str(cwd),
            "stdout": str(out),
            "stderr": str(err),
        }
        self.server.stdin.write(json.dumps(request) + "\n")
        self.server.stdin.flush()
        pid = json.loads(self.server.stdout.readline())["pid"]
        ready, _, _ = select.select([self.server.stdout], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        returncode = json.loads(self.server.stdout.readline())["returncode"]
        try:
            stdout, stderr = out.read_text(encoding="utf-8"), err.read_text(encoding="utf-8")
        finally:
            out.unlink(missing_ok=True)
            err.unlink(missing_ok=True)
        if not ready:
            raise subprocess.TimeoutExpired([str(BGV_SCRIPT), *args], timeout, stdout, stderr)
        return returncode, stdout, stderr

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)


def _child(request: dict) -> None:
    """In the forked child: become `python pipelines/bgv.py ARGS` and never return."""
    code = 1
    try:
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = request["argv"]
        try:
            runpy.run_path(request["argv"][0], run_name="__main__")
            code = 0
        except SystemExit as exit_:
            if isinstance(exit_.code, int) or exit_.code is None:
                code = exit_.code or 0
            else:
                print(exit_.code, file=sys.stderr)
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - like the interpreter: print it and exit 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def bgv_imports() -> list[str]:
    """The modules `pipelines/bgv.py` imports, read from its source: importing it would run its setup."""
    tree = ast.parse(BGV_SCRIPT.read_text(encoding="utf-8"))
    return [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]


def serve() -> None:
    sys.path.insert(0, str(REPO_ROOT / "pipelines"))
    for module in PREIMPORTED + bgv_imports():
        __import__(module)
    gc.collect()
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
