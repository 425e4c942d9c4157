"""The table registry: every table the pipeline writes, declared once.

Each declaration holds what dlt needs (write disposition, keys, column hints), which columns hold
personal data, and whether the table holds a case's data (removed by --forget, counted in the
summary). The dlt resources, PII protection, --forget and the row counts are derived from it.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from .bookkeeping_rows import RunRecord, SchemaChange
from .schedule import FROM_CASES, TrackedCase
from .table_spec import CASE_ID, NO_PERSONAL_DATA, VENDOR_OVERFLOW, PersonalData, Table, columns_of


def _columns(**columns: str) -> dict[str, str]:
    return columns


_HISTORY = {"status": "text", "result": "text", "observed_at": "timestamp", "generated_at": "timestamp"}
_CHILD = {"case_id": "text", "check_key": "text"}
# Vendor keys past max_vendor_columns; their values protected one by one, as the columns' would be.
_OVERFLOW = {VENDOR_OVERFLOW: "json"}

TRACKED_CASES = Table(
    "tracked_cases",
    "merge",
    key=(CASE_ID,),
    columns=columns_of(TrackedCase, exclude=FROM_CASES),
    personal=NO_PERSONAL_DATA,
    per_case=True,
    description="every id ever handed over, with its polling state",
)
CASES = Table(
    "cases",
    "merge",
    key=(CASE_ID,),
    columns=_columns(
        case_id="text",
        reference_id="text",
        status="text",
        result="text",
        candidate_name="text",
        candidate_photo="text",
        generated_at="timestamp",
        first_seen_at="timestamp",
        last_fetched_at="timestamp",
        first_completed_at="timestamp",
        last_completed_at="timestamp",
        **_OVERFLOW,
    ),
    # candidate_name, candidate_photo, any other candidate_<key>, or `candidate` when it is not an object
    personal=PersonalData(columns=("candidate_name", "candidate_photo"), prefixes=("candidate",)),
    per_case=True,
    description="one row per case: the report's top level, candidate and summary",
)
CHECKS = Table(
    "checks",
    "merge",
    columns=_columns(
        **_CHILD,
        check_type="text",
        check_name="text",
        category="text",
        status="text",
        result="text",
        completed_at="timestamp",
        completed_at_raw="text",
        remark="text",
        **_OVERFLOW,
    ),
    personal=PersonalData(columns=("remark",)),
    key=(CASE_ID, "check_key"),
    snapshot=True,
    per_case=True,
    description="one row per check of a case's latest report",
)
ENTRIES = Table(
    "entries",
    "merge",
    columns=_columns(**_CHILD, entry_index="bigint", **_OVERFLOW),
    personal=PersonalData(every_vendor_value=True, kept=("status", "result")),
    key=(CASE_ID, "check_key", "entry_index"),
    snapshot=True,
    report_items="entries",
    per_case=True,
    description="one row per entry of a multi-part check (employer, address, referee...)",
)
CHECK_FIELDS = Table(
    "check_fields",
    "merge",
    columns=_columns(**_CHILD, field_index="bigint", label="text", value="text", **_OVERFLOW),
    personal=PersonalData(columns=("value",)),
    key=(CASE_ID, "check_key", "field_index"),
    snapshot=True,
    report_items="fields",
    per_case=True,
    description="one row per verified field of a check (label, value)",
)
CHECK_DOCUMENTS = Table(
    "check_documents",
    "merge",
    columns=_columns(**_CHILD, document_index="bigint", url="text", **_OVERFLOW),
    personal=PersonalData(columns=("url",)),
    key=(CASE_ID, "check_key", "document_index"),
    snapshot=True,
    report_items="documents",
    per_case=True,
    description="one row per document URL of a check",
)
CASE_STATUS_HISTORY = Table(
    "case_status_history",
    "append",
    columns=_columns(case_id="text", **_HISTORY),
    personal=NO_PERSONAL_DATA,
    per_case=True,
    description="a row each time a case's status or result changed",
)
CHECK_STATUS_HISTORY = Table(
    "check_status_history",
    "append",
    columns=_columns(case_id="text", check_key="text", check_type="text", **_HISTORY),
    personal=NO_PERSONAL_DATA,
    per_case=True,
    description="a row each time a check's status or result changed",
)
FETCH_ERRORS = Table(
    "fetch_errors",
    "append",
    columns=_columns(
        case_id="text",
        http_status="bigint",
        error_message="text",
        attempts="bigint",
        failed_at="timestamp",
        run_id="text",
    ),
    personal=NO_PERSONAL_DATA,
    per_case=True,
    description="a row per failed fetch",
)
RUNS = Table(
    "runs",
    "append",
    columns=columns_of(RunRecord),
    personal=NO_PERSONAL_DATA,
    key=("run_id",),
    not_null=("run_id",),
    description="a row per run: what it did and how it ended",
)
SLA_TARGETS = Table(
    "sla_targets",
    "replace",
    columns=_columns(check_type="text", sla_days="double"),
    personal=NO_PERSONAL_DATA,
    key=("check_type",),
    not_null=("check_type",),
    description="days per check type before sla_breaches lists a check",
)
REPORT_SETTINGS = Table(
    "report_settings",
    "replace",
    columns=_columns(report_timezone="text"),
    personal=NO_PERSONAL_DATA,
    not_null=(),
    description="settings the views read",
)
RAW_REPORTS = Table(
    "raw_reports",
    "merge",
    key=(CASE_ID,),
    columns=_columns(case_id="text", generated_at="timestamp", fetched_at="timestamp", report="json"),
    personal=PersonalData(reports=("report",)),
    per_case=True,
    description="the latest report of each case, verbatim (--rebuild re-derives the report tables from it)",
)
FORGOTTEN_CASES = Table(
    "forgotten_cases",
    "merge",
    key=(CASE_ID,),
    columns=_columns(case_id="text", forgotten_at="timestamp"),
    personal=NO_PERSONAL_DATA,
    description="ids erased with --forget, and when",
)

SCHEMA_CHANGES = Table(
    "schema_changes",
    "append",
    columns=columns_of(SchemaChange),
    # Column names and types only; the case id is no personal data and is cleared by --forget.
    personal=NO_PERSONAL_DATA,
    not_null=("run_id", "table_name", "column_name"),
    description="a row per column a run added to a report table, or new type of a column's values",
)


@dataclass(frozen=True)
class Registry:
    """The tables in the order the summary lists them."""

    tables: tuple[Table, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[Table]:
        return iter(self.tables)

    def __getitem__(self, name: str) -> Table:
        return next(table for table in self.tables if table.name == name)

    @property
    def names(self) -> list[str]:
        return [table.name for table in self.tables]

    @property
    def per_case(self) -> list[Table]:
        return [table for table in self.tables if table.per_case]

    @property
    def snapshot(self) -> list[Table]:
        return [table for table in self.tables if table.snapshot]

    @property
    def check_items(self) -> list[Table]:
        """The tables made of a list inside each check (entries, fields, documents...)."""
        return [table for table in self.tables if table.report_items]

    @property
    def from_report(self) -> list[Table]:
        """The tables a report alone makes (`cases` and the snapshot tables): what --rebuild re-derives."""
        return [CASES, *self.snapshot]


TABLES = Registry(
    (
        TRACKED_CASES,
        CASES,
        CHECKS,
        ENTRIES,
        CHECK_FIELDS,
        CHECK_DOCUMENTS,
        CASE_STATUS_HISTORY,
        CHECK_STATUS_HISTORY,
        FETCH_ERRORS,
        RAW_REPORTS,
        RUNS,
        SLA_TARGETS,
        REPORT_SETTINGS,
        FORGOTTEN_CASES,
        SCHEMA_CHANGES,
    )
)
