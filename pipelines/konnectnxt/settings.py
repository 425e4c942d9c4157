"""Constants of the KonnectNXT source: API facts, names of the pipeline, dataset and files.

Configurable defaults live in the configspec (`config.py`); tables and their keys in `tables.py`.
"""

REPORT_PATH = "/recruiter/v2/report-json/"
TERMINAL_STATUSES = frozenset({"completed", "rejected"})

PIPELINE_NAME = "bgv"
DEMO_PIPELINE_NAME = "bgv_demo"
DATASET_NAME = "konnectnxt"
# The dlt source and schema: every table of the pipeline lives in this one schema.
SOURCE_NAME = "konnectnxt"
DUCKDB_FILE = "bgv.duckdb"
DEMO_DUCKDB_FILE = "bgv_demo.duckdb"
LOADER_FILE_FORMAT = "parquet"
# New DuckDB files are written in the storage format of DuckDB 1.5, the newest the duckdb command-line
# tool on PyPI (duckdb-cli) reads; the pipeline's duckdb 2.0 reads and writes it just as well.
DUCKDB_STORAGE_VERSION = "v1.5.0"

# From this many due cases, normalize runs in 2 processes: 10,000 reports take 16 s instead of 20 s,
# while for small runs starting the worker processes costs more than it saves.
PARALLEL_NORMALIZE_FROM = 2000
# Polled cases travel to the table resources in batches: dlt's cost per item dominated otherwise.
POLLED_BATCH_SIZE = 250

# Marking an id not found needs this many 404 answers as well as `not_found_after_hours` of them.
NOT_FOUND_MIN_ATTEMPTS = 5
# A run in which every answer was a 404, and at least this many came, points at a wrong base_url: its
# 404s count toward no case's not-found clock.
EVERY_404_MIN_ANSWERS = 5
