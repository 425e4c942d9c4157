"""Pytest fixtures: one throwaway PostgreSQL server per test session (so per xdist worker), a database per test."""

import uuid
from collections.abc import Iterator

import pytest

from postgres_server import PostgresNotInstalled, PostgresServer, create_database, drop_database, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for this session; missing binaries or driver fail the test, never skip it."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pytest.fail('psycopg2 is missing: install the test extra, `pip install -e ".[test]"`', pytrace=False)
    try:
        server = start_postgres()
    except PostgresNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin_url = postgres_server.url("postgres")
    create_database(admin_url, name)
    try:
        yield postgres_server.url(name)
    finally:
        drop_database(admin_url, name)
