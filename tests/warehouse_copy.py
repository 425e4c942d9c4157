"""Copy a DuckDB dataset's tables into PostgreSQL with the same column types, for cross-database tests."""

from collections.abc import Iterable
from pathlib import Path

import duckdb
import psycopg2
from psycopg2 import sql
from psycopg2.extras import execute_values

# DuckDB's information_schema data types -> PostgreSQL's; every type dlt gives our tables.
POSTGRES_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "JSON": "json",
}


def copy_dataset_to_postgres(
    duckdb_file: Path, dataset: str, postgres_url: str, postgres_dataset: str, tables: Iterable[str]
) -> None:
    """Create schema `postgres_dataset` and copy into it each of `tables` that exists in the DuckDB `dataset`."""
    target = psycopg2.connect(postgres_url)
    try:
        # `with target` commits (or rolls back) the copy as one transaction; it does not close.
        with duckdb.connect(str(duckdb_file), read_only=True) as source, target, target.cursor() as cursor:
            cursor.execute(sql.SQL("create schema {}").format(sql.Identifier(postgres_dataset)))
            for table in tables:
                columns = source.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [dataset, table],
                ).fetchall()
                if not columns:
                    continue
                unknown = {data_type for _, data_type in columns} - POSTGRES_TYPES.keys()
                assert not unknown, f"{table}: no PostgreSQL type for {unknown}; add it to POSTGRES_TYPES"
                name = sql.Identifier(postgres_dataset, table)
                cursor.execute(
                    sql.SQL("create table {} ({})").format(
                        name,
                        sql.SQL(", ").join(
                            sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(POSTGRES_TYPES[data_type]))
                            for column, data_type in columns
                        ),
                    )
                )
                rows = source.sql(f'select * from "{dataset}"."{table}"').fetchall()
                insert = sql.SQL("insert into {} values %s").format(name).as_string(cursor)
                execute_values(cursor, insert, rows)
    finally:
        target.close()


def set_database_timezone(postgres_url: str, zone: str) -> None:
    """Make `zone` the session time zone of every new connection to the URL's database."""
    connection = psycopg2.connect(postgres_url)
    try:
        with connection, connection.cursor() as cursor:
            database = connection.info.dbname
            cursor.execute(
                sql.SQL("alter database {} set timezone to {}").format(sql.Identifier(database), sql.Literal(zone))
            )
    finally:
        connection.close()
