"""The views are written once and created on every destination; DuckDB and PostgreSQL agree row for row.

The data is a real `--demo` warehouse (the CLI, in a temporary project), with the cases' first_seen_at
spread over six weeks so that every view has rows, copied table by table into PostgreSQL.
"""

import logging
import math
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dlt
import duckdb
import pytest
import sqlglot
from sqlglot import exp

from conftest import Project
from konnectnxt import views as views_module
from konnectnxt.tables import TABLES
from konnectnxt.views import View, ViewFailure, apply_views, load_views
from konnectnxt.warehouse import Warehouse
from warehouse_copy import copy_dataset_to_postgres, set_database_timezone

CASE_OVERVIEW_COLUMNS = [
    *("case_id", "reference_id", "candidate_name", "status", "result", "checks_total", "checks_clear"),
    *("checks_minor_discrepancy", "checks_discrepancy", "checks_unable_to_verify", "checks_not_available"),
    *("checks_pending", "age_days", "turnaround_days", "first_seen_at", "first_completed_at"),
    *("last_completed_at", "last_polled_at"),
]
VIEW_NAMES = ["case_overview", "check_turnaround", "discrepancy_rates", "open_cases_aging", "sla_breaches"]
# Not `konnectnxt`: on a server the dataset is the configured one, and the views must follow it.
POSTGRES_DATASET = "bgv_analytics"
# A check completed at 01:30 on 1 January 2026 in Asia/Kolkata (report_timezone), still 31 December 2025 in
# UTC and in New York; the demo's other checks completed in the last few weeks.
MONTH_EDGE_COMPLETED_AT = datetime(2025, 12, 31, 20, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_duckdb_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse made by the real CLI's `--demo`, reshaped so every view has rows (read-only: copy it)."""
    root = tmp_path_factory.mktemp("demo_project")
    env = {"DLT_PROJECT_DIR": str(root), "DLT_DATA_DIR": str(root / "dlt_data"), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    result = Project(root, sandbox=None, env=env).run("--demo")  # type: ignore[arg-type] # --demo brings its own
    assert result.returncode == 0, result.stderr
    path = root / "bgv_demo.duckdb"
    with duckdb.connect(str(path)) as connection:
        case_ids = [
            row[0] for row in connection.sql("select case_id from konnectnxt.cases order by case_id").fetchall()
        ]
        for i, case_id in enumerate(case_ids):
            back = timedelta(days=(i * 7) % 41, hours=i % 24, seconds=i * 13, microseconds=i * 4321)
            connection.execute(
                "update konnectnxt.cases set first_seen_at = first_seen_at - ? where case_id = ?", [back, case_id]
            )
        edge_case, edge_check = connection.sql(
            "select case_id, check_key from konnectnxt.checks where status = 'completed' order by case_id, check_key"
        ).fetchall()[0]
        connection.execute(
            "update konnectnxt.checks set completed_at = ? where case_id = ? and check_key = ?",
            [MONTH_EDGE_COMPLETED_AT, edge_case, edge_check],
        )
        connection.execute(
            "update konnectnxt.cases set first_seen_at = ? where case_id = ?",
            [MONTH_EDGE_COMPLETED_AT - timedelta(days=12.5), edge_case],
        )
    return path


@pytest.fixture
def duckdb_warehouse(demo_duckdb_file: Path, tmp_path: Path) -> Iterator[Warehouse]:
    path = tmp_path / "views.duckdb"
    shutil.copy(demo_duckdb_file, path)
    pipeline = dlt.pipeline(
        "views_on_duckdb",
        pipelines_dir=str(tmp_path / "dlt_pipelines"),
        destination=dlt.destinations.duckdb(credentials=str(path)),
        dataset_name="konnectnxt",
    )
    yield from _open(pipeline, str(path))


@pytest.fixture
def postgres_warehouse(demo_duckdb_file: Path, postgres_url: str, tmp_path: Path) -> Iterator[Warehouse]:
    """The demo tables, same rows and column types, in dataset `bgv_analytics` of a new PostgreSQL database."""
    copy_dataset_to_postgres(demo_duckdb_file, "konnectnxt", postgres_url, POSTGRES_DATASET, TABLES.names)
    # A session time zone far from UTC and from report_timezone: no view may depend on it.
    set_database_timezone(postgres_url, "America/New_York")
    pipeline = dlt.pipeline(
        "views_on_postgres",
        pipelines_dir=str(tmp_path / "dlt_pipelines"),
        destination=dlt.destinations.postgres(credentials=postgres_url),
        dataset_name=POSTGRES_DATASET,
    )
    yield from _open(pipeline, postgres_url.rsplit("@", 1)[-1])


def _open(pipeline: dlt.Pipeline, label: str) -> Iterator[Warehouse]:
    client = pipeline.sql_client()
    client.open_connection()
    try:
        yield Warehouse(pipeline, client, label, is_duckdb=pipeline.destination.destination_name == "duckdb")
    finally:
        client.close_connection()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    return request.getfixturevalue(f"{request.param}_warehouse")


def query(warehouse: Warehouse, sql: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of `sql`, `{name}` placeholders replaced by qualified names in the warehouse."""
    names = {name: warehouse.client.make_qualified_table_name(name) for name in [*TABLES.names, *VIEW_NAMES]}
    with warehouse.client.execute_query(sql.format(**names)) as cursor:
        return [column[0] for column in cursor.description], list(cursor.fetchall())


def test_every_view_file_is_a_view_reading_only_registered_tables():
    views = load_views()
    assert [view.name for view in views] == VIEW_NAMES
    for view in views:
        assert view.tables() <= set(TABLES.names), view.name


def test_every_view_is_created_without_error(warehouse: Warehouse):
    assert apply_views(warehouse) == []
    for name in VIEW_NAMES:
        columns, rows = query(warehouse, f"select * from {{{name}}}")
        assert columns and rows, f"{name} is empty on the demo data"


def test_the_same_data_gives_the_same_view_rows_on_duckdb_and_postgresql(
    duckdb_warehouse: Warehouse, postgres_warehouse: Warehouse
):
    assert apply_views(duckdb_warehouse) == [] and apply_views(postgres_warehouse) == []
    for name in VIEW_NAMES:
        started = time.monotonic()
        duckdb_columns, duckdb_rows = query(duckdb_warehouse, f"select * from {{{name}}}")
        postgres_columns, postgres_rows = query(postgres_warehouse, f"select * from {{{name}}}")
        # Views measuring up to now saw two slightly different nows.
        tolerance_days = (1 + time.monotonic() - started) / 86400
        assert postgres_columns == duckdb_columns, name
        assert len(postgres_rows) == len(duckdb_rows), name
        for duckdb_row, postgres_row in zip(by_key(duckdb_rows), by_key(postgres_rows), strict=True):
            assert_same_row(duckdb_row, postgres_row, tolerance_days, name)
    months = {row[1] for row in query(duckdb_warehouse, "select * from {check_turnaround}")[1]}
    assert date(2026, 1, 1) in months and date(2025, 12, 1) not in months


def by_key(rows: list[tuple]) -> list[tuple]:
    """Rows in one order on both sides: by their values other than floats (which may differ in the last bits)."""
    return sorted(rows, key=lambda row: tuple((v is None, repr(v)) for v in row if not isinstance(v, float)))


def assert_same_row(expected: tuple, actual: tuple, tolerance_days: float, view: str) -> None:
    for column, (left, right) in enumerate(zip(expected, actual, strict=True)):
        where = f"{view} column {column}: duckdb {left!r}, postgresql {right!r}"
        assert type(left) is type(right), where
        if isinstance(left, float):
            assert math.isclose(left, right, rel_tol=1e-9, abs_tol=tolerance_days), where
        elif isinstance(left, datetime):
            assert left.astimezone(UTC) == right.astimezone(UTC), where
        else:
            assert left == right, where


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake"])
def test_every_view_transpiles_to_bigquery_and_snowflake(dialect: str):
    quote = {"bigquery": "`", "snowflake": '"'}[dialect]

    def qualified_name(name: str) -> str:
        return ".".join(f"{quote}{part}{quote}" for part in ("analytics", "konnectnxt", name))

    for view in load_views():
        statement = sqlglot.parse_one(view.create_sql(dialect, qualified_name), read=dialect)
        assert isinstance(statement, exp.Create) and statement.kind == "VIEW", view.name
        assert statement.this.name == view.name and statement.this.db == "konnectnxt", view.name
        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        read = {(t.catalog, t.db, t.name) for t in statement.expression.find_all(exp.Table) if t.name not in ctes}
        assert read == {("analytics", "konnectnxt", table) for table in view.tables()}, view.name


def test_a_view_whose_columns_changed_replaces_the_old_one_on_postgresql(postgres_warehouse: Warehouse):
    client = postgres_warehouse.client
    # An older version: other column names, a column of another type, one column fewer than now.
    client.execute_sql(
        f"create view {client.make_qualified_table_name('case_overview')} as "
        "select 1 as case_id, text 'old' as candidate, now() as first_seen_at"
    )
    assert apply_views(postgres_warehouse) == []
    columns, rows = query(postgres_warehouse, "select * from {case_overview}")
    assert columns == CASE_OVERVIEW_COLUMNS
    assert len(rows) == query(postgres_warehouse, "select count(*) from {cases}")[1][0][0]


def test_a_view_that_fails_is_returned_and_logged_keeps_its_old_version_and_stops_no_other(
    warehouse: Warehouse, caplog: pytest.LogCaptureFixture
):
    client = warehouse.client
    for name in VIEW_NAMES:
        client.execute_sql(f"drop view if exists {client.make_qualified_table_name(name)}")
    client.execute_sql(f"create view {client.make_qualified_table_name('broken')} as select 1 as still_here")
    first, *others = load_views()
    views = [first, View("broken", "select no_such_function(case_id) as x from cases"), *others]
    with caplog.at_level(logging.WARNING, logger="bgv"):
        failures = apply_views(warehouse, views)
    assert [failure.view for failure in failures] == ["broken"]
    assert isinstance(failures[0], ViewFailure) and "no_such_function" in failures[0].message
    assert "\n" not in failures[0].message
    assert [r.getMessage() for r in caplog.records] == [f"view broken not created: {failures[0].message}"]
    assert query(warehouse, f"select * from {client.make_qualified_table_name('broken')}")[1] == [(1,)]
    for name in VIEW_NAMES:
        query(warehouse, f"select count(*) from {{{name}}}")


def test_the_dataset_of_the_views_is_the_warehouse_dataset(postgres_warehouse: Warehouse):
    assert apply_views(postgres_warehouse) == []
    _, rows = query(
        postgres_warehouse,
        "select table_schema, table_name from information_schema.views where table_schema not in "
        "('pg_catalog', 'information_schema') order by table_name",
    )
    assert rows == [(POSTGRES_DATASET, name) for name in VIEW_NAMES]


def test_a_view_as_this_version_makes_it_is_left_alone_and_any_other_is_made_again(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
):
    made: list[str] = []
    create_or_replace = views_module._create_or_replace

    def recording(client, view, dialect):
        made.append(view.name)
        create_or_replace(client, view, dialect)

    monkeypatch.setattr(views_module, "_create_or_replace", recording)
    client = warehouse.client
    for name in VIEW_NAMES:
        client.execute_sql(f"drop view if exists {client.make_qualified_table_name(name)}")
    assert apply_views(warehouse) == [] and made == VIEW_NAMES
    made.clear()
    assert apply_views(warehouse) == [] and made == []
    # Someone's own definition under a view's name, another dropped: both made again as this version does.
    client.execute_sql(f"drop view {client.make_qualified_table_name('sla_breaches')}")
    client.execute_sql(f"drop view {client.make_qualified_table_name('case_overview')}")
    client.execute_sql(f"create view {client.make_qualified_table_name('case_overview')} as select 1 as case_id")
    assert apply_views(warehouse) == [] and made == ["case_overview", "sla_breaches"]
    assert query(warehouse, "select * from {case_overview}")[0] == CASE_OVERVIEW_COLUMNS
