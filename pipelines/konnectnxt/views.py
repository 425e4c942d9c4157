"""The analytics views: one query per view in `views/<name>.sql`, created in each destination's SQL dialect.

The queries are written once, in DuckDB's SQL restricted to what sqlglot transpiles faithfully, and
name the dataset's tables unqualified (`from cases c`), so they also run as they are in the DuckDB CLI
after `use konnectnxt`. Creating a view qualifies every table with the destination's own
qualified name (dataset, and catalog where it has one) and writes the query in its dialect.
"""

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import sqlglot
from dlt.destinations.sql_client import SqlClientBase
from sqlglot import exp

from .errors import cause_line
from .warehouse import Warehouse

logger = logging.getLogger("bgv")
VIEWS_DIR = Path(__file__).parent / "views"
SOURCE_DIALECT = "duckdb"
# How a view comment made by this pipeline starts; the rest says which definition it is.
SIGNED = "bgv-warehouse view "
# The code that turns a query into a create statement: a view made by other code is made again.
MADE_BY = sqlglot.__version__ + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

QualifiedName = Callable[[str], str]
"""A table or view name -> its qualified, quoted name in the destination's dialect (`"konnectnxt"."cases"`)."""


@dataclass(frozen=True)
class View:
    """A view's name and its query as written in `views/<name>.sql`."""

    name: str
    query: str

    def tables(self) -> set[str]:
        """The dataset tables the query reads (its own CTEs aside)."""
        return {table.name for table in _dataset_tables(self._parse())}

    def create_sql(self, dialect: str, qualified_name: QualifiedName, replace: bool = True) -> str:
        """`create [or replace] view <qualified name> as <query>` in `dialect`."""
        create = exp.Create(
            this=exp.to_table(qualified_name(self.name), dialect=dialect),
            kind="VIEW",
            replace=replace,
            expression=self._qualified_query(dialect, qualified_name),
        )
        return _sql(create, dialect)

    def signature(self, dialect: str, qualified_name: QualifiedName) -> str:
        """What its create statement is made of: the query, where, the dialect, the code making it."""
        made_of = "\0".join([MADE_BY, dialect, qualified_name(self.name), self.query])
        return SIGNED + hashlib.sha256(made_of.encode()).hexdigest()[:16]

    def drop_sql(self, dialect: str, qualified_name: QualifiedName) -> str:
        drop = exp.Drop(tables=[exp.to_table(qualified_name(self.name), dialect=dialect)], kind="VIEW", exists=True)
        return _sql(drop, dialect)

    def _qualified_query(self, dialect: str, qualified_name: QualifiedName) -> exp.Expression:
        tree = self._parse()
        for table in _dataset_tables(tree):
            qualified = exp.to_table(qualified_name(table.name), dialect=dialect)
            for part in ("this", "db", "catalog"):
                table.set(part, qualified.args.get(part))
        return tree

    def _parse(self) -> exp.Expression:
        return sqlglot.parse_one(self.query, read=SOURCE_DIALECT)


class ViewFailure(NamedTuple):
    """A view that could not be created, and the database's (or sqlglot's) one-line reason."""

    view: str
    message: str


def load_views(directory: Path = VIEWS_DIR) -> list[View]:
    """Every `<name>.sql` in `directory`, by name."""
    return [View(path.stem, path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.sql"))]


def apply_views(warehouse: Warehouse, views: Sequence[View] | None = None) -> list[ViewFailure]:
    """(Re)create every view of the warehouse's dataset not as this version makes it; returns those that
    failed, each logged as a warning.

    A view made by this version carries its signature as its comment (DuckDB, PostgreSQL) and is left
    as it is: making the SQL of five views took a run 60 ms. A failed view does not stop the others:
    the data is loaded already.
    """
    client = warehouse.client
    dialect = client.capabilities.sqlglot_dialect or SOURCE_DIALECT
    comments = _comments_query(warehouse)
    signed = _signatures(warehouse, comments) if comments else {}
    failures = []
    for view in load_views() if views is None else views:
        signature = view.signature(dialect, client.make_qualified_table_name)
        if signed.get(view.name) == signature:
            continue
        try:
            _create_or_replace(client, view, dialect)
            if comments:
                client.execute_sql(f"comment on view {client.make_qualified_table_name(view.name)} is '{signature}'")
        except Exception as exc:  # noqa: BLE001 - any failure is reported per view
            failure = ViewFailure(view.name, cause_line(exc))
            logger.warning("view %s not created: %s", failure.view, failure.message)
            failures.append(failure)
    return failures


def _comments_query(warehouse: Warehouse) -> str | None:
    """The query of the dataset's view comments, on the destinations that have them."""
    if warehouse.is_duckdb:
        return "select view_name, comment from duckdb_views() where database_name = current_database() and schema_name = %s"
    if warehouse.pipeline.destination.destination_type.endswith(".postgres"):
        return (
            "select c.relname, obj_description(c.oid, 'pg_class') from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where c.relkind = 'v' and n.nspname = %s"
        )
    return None


def _signatures(warehouse: Warehouse, comments_query: str) -> dict[str, str]:
    """View name -> its comment, where it is a signature."""
    rows = warehouse.query(comments_query, warehouse.dataset)
    return {name: comment for name, comment in rows if comment and comment.startswith(SIGNED)}


def _create_or_replace(client: SqlClientBase[Any], view: View, dialect: str) -> None:
    qualified_name = client.make_qualified_table_name
    try:
        client.execute_sql(view.create_sql(dialect, qualified_name))
        return
    except Exception as exc:
        # PostgreSQL (and its kin) refuse `create or replace` when the columns change; where DDL is
        # transactional, drop and create at once so readers see the old view or the new one.
        if not client.capabilities.supports_ddl_transactions:
            raise
        logger.debug("create or replace view %s failed (%s); dropping and creating it", view.name, cause_line(exc))
    with client.begin_transaction():
        client.execute_sql(view.drop_sql(dialect, qualified_name))
        client.execute_sql(view.create_sql(dialect, qualified_name, replace=False))


def _sql(tree: exp.Expression, dialect: str) -> str:
    # RAISE: a construct the dialect lacks fails the view instead of giving silently wrong SQL.
    return tree.sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE, comments=False)


def _dataset_tables(tree: exp.Expression) -> list[exp.Table]:
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return [table for table in tree.find_all(exp.Table) if table.name not in ctes and not table.db]
