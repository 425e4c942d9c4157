"""Reading the configured warehouse from a notebook or a script: read-only, briefly, through dlt.

The warehouse is found as the pipeline finds it (the project's `.dlt/` settings, the same destination
and dataset), opened read-only where the destination allows it, queried, and closed before anything
is drawn, so it never holds up a cron run.
"""

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import dlt
import duckdb
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from .destinations import dataset_name, destination_type, server_location
from .duckdb_file import duckdb_destination, duckdb_path
from .errors import cause_line
from .settings import PIPELINE_NAME

logger = logging.getLogger("bgv")


class WarehouseNotFound(Exception):
    """The configured warehouse does not exist (yet), or cannot be opened."""


@dataclass
class WarehouseData:
    """What `read_warehouse` read: a DataFrame per query, the queries whose tables are missing, where."""

    frames: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    location: str = ""
    dataset: str = ""


def read_warehouse(
    queries: dict[str, str], pipeline_name: str = PIPELINE_NAME, wait_seconds: float = 60
) -> WarehouseData:
    """Each query's rows as a pandas DataFrame; `{dataset}` in a query is the pipeline's dataset.

    A DuckDB file a run is writing is retried for up to `wait_seconds`; a query whose table or view
    does not exist yet gives an empty DataFrame and is listed in `missing`.
    """
    kind = destination_type(pipeline_name)
    dataset = dataset_name(pipeline_name, kind)
    if kind == "duckdb":
        location = duckdb_path(pipeline_name)
        if not os.path.isfile(location):
            raise WarehouseNotFound(f"no warehouse at {location}: the pipeline has not run here yet")
        connection = _read_only(location, wait_seconds)
        destination: Any = duckdb_destination(connection)
    else:
        connection = None
        destination, location = _read_only_server(pipeline_name, kind, dataset)
    pipeline = dlt.pipeline(pipeline_name=f"{pipeline_name}_reader", dataset_name=dataset, destination=destination)
    data = WarehouseData({}, location=location, dataset=dataset)
    try:
        with pipeline.sql_client() as client:
            for name, sql in queries.items():
                try:
                    with client.execute_query(sql.format(dataset=client.fully_qualified_dataset_name())) as cursor:
                        data.frames[name] = cursor.df()
                except DatabaseUndefinedRelation:
                    data.frames[name] = None
                    data.missing.append(name)
    except Exception as exc:
        raise WarehouseNotFound(f"cannot read the warehouse at {location}: {cause_line(exc)}") from exc
    finally:
        if connection is not None:
            connection.close()
    return data


def _read_only(path: str, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(path, read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise WarehouseNotFound(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
            logger.warning("a pipeline run is writing to %s; trying again in 5 s", path)
            time.sleep(min(5, max(deadline - time.monotonic(), 0.1)))


def _read_only_server(pipeline_name: str, kind: str, dataset: str) -> tuple[Any, str]:
    configured = dlt.pipeline(pipeline_name=f"{pipeline_name}_reader", dataset_name=dataset, destination=kind)
    credentials = configured.destination_client().config.credentials
    label = server_location(credentials, kind, dataset).label
    if kind == "postgres":  # every transaction of the session is read-only
        query = dict(credentials.get_query() or {})
        query["options"] = f"{query.get('options', '')} -c default_transaction_read_only=on".strip()
        credentials.query = query
        return dlt.destinations.postgres(credentials=credentials), label
    return configured.destination, label
