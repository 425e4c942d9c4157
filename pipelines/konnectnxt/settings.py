"""Constants of the KonnectNXT source: API facts, defaults, table names and keys."""

BASE_URL = "https://bgv.konnectnxt.com/api"
REPORT_PATH = "/recruiter/v2/report-json/"

PIPELINE_NAME = "bgv"
DEMO_PIPELINE_NAME = "bgv_demo"
DATASET_NAME = "konnectnxt"
DUCKDB_FILE = "bgv.duckdb"
DEMO_DUCKDB_FILE = "bgv_demo.duckdb"

# The vendor asks for a backoff starting 30 s, 60 s, 5 min; we grow to a 6 h cap for idle cases.
POLL_INTERVALS = [30, 60, 300, 900, 1800, 3600, 7200, 21600]
MIN_POLL_INTERVAL = 15
REPORT_TIMEZONE = "Asia/Kolkata"
WORKERS = 10
REQUEST_TIMEOUT = 30.0
MAX_ATTEMPTS = 4
MAX_RETRIES_PER_RUN = 200
RETRY_BASE_DELAY = 1.0
RETRY_MAX_DELAY = 60.0
NOT_FOUND_AFTER_HOURS = 72.0
LOCK_WAIT_SECONDS = 60.0

# Days a check may take before sla_breaches lists it; "default" covers every other check type.
SLA_DAYS = {
    "default": 7,
    "identity_aadhaar": 2,
    "identity_pan": 2,
    "criminal": 10,
    "court_record": 10,
    "employment": 14,
    "education": 14,
    "address": 10,
    "reference": 7,
    "social_media": 5,
    "drug_test": 5,
}

# From this many due cases, normalize runs in 2 processes: 10,000 reports take 16 s instead of 20 s,
# while for small runs starting the worker processes costs more than it saves.
PARALLEL_NORMALIZE_FROM = 2000

TERMINAL_STATUSES = frozenset({"completed", "rejected"})

TRACKED_CASES = "tracked_cases"
CASES = "cases"
CHECKS = "checks"
ENTRIES = "entries"
CHECK_FIELDS = "check_fields"
CHECK_DOCUMENTS = "check_documents"
FETCH_ERRORS = "fetch_errors"
RUNS = "runs"
CASE_STATUS_HISTORY = "case_status_history"
CHECK_STATUS_HISTORY = "check_status_history"
SLA_TARGETS = "sla_targets"
REPORT_SETTINGS = "report_settings"
FORGOTTEN_CASES = "forgotten_cases"
# Tables that hold one case's snapshot and are replaced whole on every fetch of that case.
SNAPSHOT_CHILD_TABLES = (CHECKS, ENTRIES, CHECK_FIELDS, CHECK_DOCUMENTS)
REPORT_TABLES = (CASES, *SNAPSHOT_CHILD_TABLES)
# A row flagged with this column deletes the case's old rows and is never inserted itself.
TOMBSTONE_COLUMN = "_tombstone"
