"""Which warehouse: the destination dlt's configuration names, its dataset, how to load it, who it is.

DuckDB is the default. Any dlt destination with SQL is a configuration change:
`[pipelines.bgv] destination_type` plus dlt's own credentials; `--demo` follows it into its own dataset.
"""

import difflib
from dataclasses import dataclass
from typing import Any

import dlt
from dlt.common.configuration.specs.base_configuration import is_secret_hint

from .errors import ConfigurationError
from .settings import DATASET_NAME, DEMO_PIPELINE_NAME, PIPELINE_NAME

# dlt destinations with a SQL client: the pipeline queries its polling state and creates views.
SQL_DESTINATIONS = (
    "duckdb",
    "motherduck",
    "postgres",
    "redshift",
    "snowflake",
    "bigquery",
    "databricks",
    "mssql",
    "synapse",
    "fabric",
    "clickhouse",
    "athena",
    "dremio",
    "sqlalchemy",
    "ducklake",
)
# The fastest format each destination loads natively; parquet elsewhere when it takes it.
LOADER_FILE_FORMATS = {"postgres": "csv", "redshift": "insert_values", "mssql": "insert_values"}
DEMO_DATASET_ON_SERVERS = "konnectnxt_demo"


def destination_type(pipeline_name: str) -> str:
    """`[pipelines.bgv] destination_type` (the demo follows it), checked; "duckdb" when not set."""
    configured = dlt.config.get(f"pipelines.{PIPELINE_NAME}.destination_type")
    if configured is None:
        return "duckdb"
    name = str(configured).strip().split(".")[-1].lower()
    if name not in SQL_DESTINATIONS:
        nearest = difflib.get_close_matches(name, SQL_DESTINATIONS, n=1)
        hint = f" (did you mean {nearest[0]}?)" if nearest else ""
        raise ConfigurationError(
            f"[pipelines.{PIPELINE_NAME}] destination_type is {configured!r}: unknown{hint}; expected one of "
            f"{', '.join(SQL_DESTINATIONS)} (env PIPELINES__{PIPELINE_NAME.upper()}__DESTINATION_TYPE)"
        )
    return name


def dataset_name(pipeline_name: str, destination: str) -> str:
    """The demo keeps its own file on DuckDB and its own dataset on a server; real data is `konnectnxt`."""
    if pipeline_name == DEMO_PIPELINE_NAME and destination != "duckdb":
        return DEMO_DATASET_ON_SERVERS
    return DATASET_NAME


def loader_file_format(destination: str, supported: tuple[str, ...]) -> str:
    """Parquet where the destination loads it natively; the fastest native format elsewhere."""
    preferred = LOADER_FILE_FORMATS.get(destination, "parquet")
    return preferred if preferred in supported else supported[0]


@dataclass(frozen=True)
class ServerLocation:
    """A server warehouse without its secrets: what the user reads and how the working dir knows it."""

    destination: str
    public: dict[str, Any]
    dataset: str

    @property
    def label(self) -> str:
        """`postgres://user@host:port/database` for PostgreSQL and kin, else the type and public fields."""
        p = self.public
        if p.get("host"):
            user = f"{p['username']}@" if p.get("username") else ""
            port = f":{p['port']}" if p.get("port") else ""
            return f"{self.destination}://{user}{p['host']}{port}/{p.get('database') or ''}"
        shown = ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if v not in (None, ""))
        return f"{self.destination} ({shown})" if shown else self.destination

    @property
    def fingerprint(self) -> str:
        return f"{self.label}#{self.dataset}"


def server_location(credentials: Any, destination: str, dataset: str) -> ServerLocation:
    """The public (non-secret) coordinates of resolved dlt credentials."""
    fields = type(credentials).get_resolvable_fields() if credentials is not None else {}
    public = {name: getattr(credentials, name) for name, hint in fields.items() if not is_secret_hint(hint)}
    keep = {"username", "host", "port", "database", "project_id", "account", "warehouse", "server_hostname"}
    return ServerLocation(destination, {k: v for k, v in public.items() if k in keep}, dataset)


def with_lock_timeout(credentials: Any, seconds: float) -> Any:
    """PostgreSQL credentials whose sessions give up waiting for a lock (a reader's) after `seconds`."""
    query = dict(credentials.get_query() or {})
    query["options"] = f"{query.get('options', '')} -c lock_timeout={max(int(seconds * 1000), 1)}".strip()
    credentials.query = query
    return credentials
