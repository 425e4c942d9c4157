"""`--demo --reset`: the demo starts over (its warehouse, its working dir, its clock); nothing else is touched."""

import logging
import os
import shutil
from pathlib import Path

from dlt.common.pipeline import get_dlt_pipelines_dir

from .config import load_configuration
from .destinations import dataset_name, destination_type
from .duckdb_file import duckdb_path
from .errors import ConfigurationError
from .run_lock import run_lock
from .settings import DEMO_PIPELINE_NAME
from .warehouse import lock_path, open_warehouse

logger = logging.getLogger("bgv")


def reset_demo(pipeline_name: str) -> list[str]:
    """Remove the demo's warehouse and working dir; returns what was removed, for the log."""
    if pipeline_name != DEMO_PIPELINE_NAME:
        raise ConfigurationError("--reset starts the demo over and works only with --demo")
    configuration = load_configuration(require_api_key=False)
    removed = []
    with run_lock(lock_path(pipeline_name)):
        kind = destination_type(pipeline_name)
        if kind == "duckdb":
            path = duckdb_path(pipeline_name)
            for leftover in (path, f"{path}.wal"):
                if os.path.exists(leftover):
                    os.remove(leftover)
                    removed.append(leftover)
        else:
            dataset = dataset_name(pipeline_name, kind)
            with open_warehouse(pipeline_name, configuration.lock_wait_seconds) as warehouse:
                client = warehouse.client
                for schema in (dataset, f"{dataset}_staging"):
                    client.execute_sql(f"drop schema if exists {client.capabilities.escape_identifier(schema)} cascade")
                removed.append(f"dataset {dataset} on {warehouse.label}")
        pipelines = Path(get_dlt_pipelines_dir())
        for leftover in (pipelines / pipeline_name, pipelines / f"{pipeline_name}.set_aside"):
            if leftover.exists():
                shutil.rmtree(leftover)
                removed.append(str(leftover))
        for leftover in pipelines.glob(f"{pipeline_name}.*.json"):
            leftover.unlink()
    for item in removed:
        logger.info("removed %s", item)
    return removed
