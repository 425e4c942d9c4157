"""A throwaway PostgreSQL server for tests: its own data dir in a temp dir, on 127.0.0.1, a free port.

PostgreSQL refuses to run as root, and tests run as root in CI: as root the server runs as the
`postgres` account (created as `bgv-postgres` when there is none), otherwise as the current user.
Password authentication; the superuser is `postgres`; a database `bgv_test` is created.

As a script: `python tests/postgres_server.py start` starts one and prints its URL (it keeps running
after the script exits), `python tests/postgres_server.py stop` stops it and removes its data.
"""

import argparse
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
TEST_DATABASE = "bgv_test"
FALLBACK_OS_USER = "bgv-postgres"
DEBIAN_INSTALL_DIR = Path("/usr/lib/postgresql")
INSTALL_HINT = (
    "the PostgreSQL server binaries (initdb, pg_ctl) are not on PATH nor in /usr/lib/postgresql/*/bin; "
    "install them, e.g. `apt-get install postgresql-15` (Debian/Ubuntu) or `brew install postgresql@15`"
)
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    # Throwaway data: durability buys nothing and costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
}
STATE_FILE = "server.json"
PORT_ATTEMPTS = 5


class PostgresNotInstalled(RuntimeError):
    """The PostgreSQL server binaries are missing on this machine."""


class PostgresStartFailed(RuntimeError):
    """initdb or the server failed; the message carries the tail of its log."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it listens, how to log in, and the directory holding its data and log."""

    port: int
    password: str
    base_dir: str
    os_user: str | None
    bin_dir: str
    host: str = "127.0.0.1"

    def url(self, database: str = TEST_DATABASE) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@{self.host}:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return Path(self.base_dir) / "data"

    def stop(self) -> None:
        """Stop the server and remove its data dir; stopping a server that is gone already is fine."""
        if self.data_dir.exists():
            _run_as(
                self.os_user, [self._pg_ctl, "stop", "-D", str(self.data_dir), "-m", "immediate", "-w"], check=False
            )
        shutil.rmtree(self.base_dir, ignore_errors=True)

    @property
    def _pg_ctl(self) -> str:
        return str(Path(self.bin_dir) / "pg_ctl")


def start_postgres(base_dir: Path | None = None, timeout: float = 30) -> PostgresServer:
    """initdb a new data dir and start a server on a free port of 127.0.0.1, with `bgv_test` created."""
    bin_dir = postgres_bin_dir()
    os_user = _server_os_user()
    base = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="bgv-postgres-"))
    base.mkdir(parents=True, exist_ok=True)
    if os_user:
        account = pwd.getpwnam(os_user)
        os.chown(base, account.pw_uid, account.pw_gid)
    password = secrets.token_hex(16)
    password_file = base / "password"
    password_file.write_text(password, encoding="utf-8")
    if os_user:
        os.chown(password_file, account.pw_uid, account.pw_gid)
    data_dir = base / "data"
    try:
        _run_as(
            os_user,
            [
                str(Path(bin_dir) / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=base,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresStartFailed(f"initdb failed: {_tail(exc.stdout)}") from None
    finally:
        password_file.unlink(missing_ok=True)
    server = _start_on_a_free_port(PostgresServer(0, password, str(base), os_user, bin_dir), timeout)
    create_database(server.url("postgres"), TEST_DATABASE)
    return server


def postgres_bin_dir() -> str:
    """Where initdb and pg_ctl are: PATH first, else the newest /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return str(Path(on_path).resolve().parent)

    def version(initdb: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in initdb.parent.parent.name.split(".") if part.isdigit())

    for initdb in sorted(DEBIAN_INSTALL_DIR.glob("*/bin/initdb"), key=version, reverse=True):
        if (initdb.parent / "pg_ctl").exists():
            return str(initdb.parent)
    raise PostgresNotInstalled(INSTALL_HINT)


def create_database(admin_url: str, name: str) -> None:
    with _autocommit_connection(admin_url) as connection, connection.cursor() as cursor:
        cursor.execute(f'create database "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    with _autocommit_connection(admin_url) as connection, connection.cursor() as cursor:
        cursor.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def _autocommit_connection(url: str) -> Iterator[Any]:
    """A connection outside any transaction (create/drop database refuse to run in one), closed after."""
    import psycopg2  # the postgres extra; imported here so that the script's `stop` works without it

    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()


def _start_on_a_free_port(server: PostgresServer, timeout: float) -> PostgresServer:
    # Another process (an xdist worker) may take the port between our probe and the server's bind.
    log_file = Path(server.base_dir) / "server.log"
    for _ in range(PORT_ATTEMPTS):
        port = _free_port()
        settings = " ".join(f"-c {key}={value}" for key, value in SERVER_SETTINGS.items())
        command = [
            server._pg_ctl,
            "start",
            "-D",
            str(server.data_dir),
            "-l",
            str(log_file),
            "-w",
            "-t",
            str(int(timeout)),
        ]
        result = _run_as(server.os_user, [*command, "-o", f"-p {port} {settings}"], cwd=server.base_dir, check=False)
        if result.returncode == 0:
            return PostgresServer(port, server.password, server.base_dir, server.os_user, server.bin_dir)
        log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else result.stdout
        if "could not bind" not in log and "already in use" not in log:
            server.stop()
            raise PostgresStartFailed(f"the PostgreSQL server did not start: {_tail(log)}")
    server.stop()
    raise PostgresStartFailed(f"no free port for PostgreSQL after {PORT_ATTEMPTS} attempts")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_os_user() -> str | None:
    """The account the server runs as: None (ourselves) unless we are root, which PostgreSQL refuses."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, FALLBACK_OS_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    # Two xdist workers may race to create the account: whichever loses finds it made.
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_OS_USER],
        capture_output=True,
        check=False,
    )
    pwd.getpwnam(FALLBACK_OS_USER)
    return FALLBACK_OS_USER


def _run_as(
    os_user: str | None, command: list[str], cwd: str | Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    switch: dict[str, Any] = {}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    if os_user:
        account = pwd.getpwnam(os_user)
        switch = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env["HOME"] = str(cwd or "/")
    return subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        check=check,
        **switch,
    )


def _tail(text: str | None, lines: int = 5) -> str:
    return " | ".join((text or "").strip().splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bgv-test-postgres",
        help="directory of the server's data, log and state (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    state = args.dir / STATE_FILE
    if args.action == "stop":
        if not state.exists():
            print(f"no server recorded in {state}", file=sys.stderr)
            return 1
        PostgresServer(**json.loads(state.read_text(encoding="utf-8"))).stop()
        print(f"stopped; removed {args.dir}")
        return 0
    if state.exists():
        print(f"a server is recorded in {state} already: stop it first", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        server = start_postgres(args.dir)
    except (PostgresNotInstalled, PostgresStartFailed) as exc:
        print(f"postgres_server: {exc}", file=sys.stderr)
        return 2
    state.write_text(json.dumps(asdict(server)), encoding="utf-8")
    state.chmod(0o600)
    print(server.url())
    print(f"started in {time.monotonic() - started:.1f} s; data in {server.data_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
