"""The throwaway PostgreSQL server the tests use: fast to start, never as root, gone without a trace."""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

import postgres_server
from postgres_server import PostgresNotInstalled, PostgresServer

SCRIPT = Path(postgres_server.__file__)


def script(action: str, directory: Path) -> subprocess.CompletedProcess:
    """`python tests/postgres_server.py ACTION --dir DIRECTORY`."""
    return subprocess.run(
        [sys.executable, SCRIPT, action, "--dir", directory], capture_output=True, text=True, check=False
    )


def test_the_script_starts_a_server_on_loopback_within_seconds_and_stop_removes_it():
    directory = Path(tempfile.gettempdir()) / f"bgv-postgres-script-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    start = script("start", directory)
    elapsed = time.monotonic() - started
    try:
        assert start.returncode == 0, start.stderr
        url = start.stdout.strip()
        assert url.startswith("postgresql://postgres:") and "@127.0.0.1:" in url and url.endswith("/bgv_test")
        assert elapsed < 15, f"starting took {elapsed:.1f} s"
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute("select current_setting('listen_addresses'), current_setting('server_version_num')::int")
            assert cursor.fetchone()[0] == "127.0.0.1"
        again = script("start", directory)
        assert again.returncode == 1 and "stop it first" in again.stderr
    finally:
        stop = script("stop", directory)
    assert stop.returncode == 0, stop.stderr
    assert not directory.exists()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=3)


def test_the_server_never_runs_as_root_and_wants_a_password(postgres_server: PostgresServer):
    assert postgres_server.data_dir.stat().st_uid != 0
    wrong = postgres_server.url().replace(postgres_server.password, "not-the-password")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(wrong)


def test_each_test_gets_its_own_empty_database(postgres_url: str, postgres_server: PostgresServer):
    with psycopg2.connect(postgres_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "select current_database(), count(*) from information_schema.tables where table_schema = 'public'"
        )
        database, tables = cursor.fetchone()
    connection.close()
    assert database.startswith("test_") and tables == 0


def test_missing_binaries_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres_server, "DEBIAN_INSTALL_DIR", tmp_path / "no-postgresql")
    with pytest.raises(PostgresNotInstalled, match=r"apt-get install postgresql-15"):
        postgres_server.start_postgres()


def test_a_test_needing_postgresql_fails_where_it_is_not_installed_and_is_never_skipped(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_needs_postgres.py").write_text(
        "from pathlib import Path\n"
        "import postgres_server\n"
        "postgres_server.DEBIAN_INSTALL_DIR = Path('/nonexistent')\n"
        "def test_it(postgres_url):\n"
        "    pass\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "postgres_fixtures", "-p", "no:cacheprovider", "-rA", "."],
        cwd=tmp_path,
        env={**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(SCRIPT.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert "apt-get install postgresql-15" in result.stdout
