"""The vendor's format changes are reported through the real CLI: summary lines and `schema_changes` rows."""

from datetime import UTC, datetime

from conftest import Project
from konnectnxt.schema_changes import schema_changes, summary_lines

CASE, OTHER = "e" * 32, "f" * 32


def serve(project: Project, case_id: str, entry: dict, check: dict | None = None, total=3) -> None:
    check = {"type": "employment", "status": "in_progress", "result": "pending", **(check or {}), "entries": [entry]}
    data = {"status": "in_progress", "result": "pending", "summary": {"total": total}, "checks": [check]}
    project.sandbox.add_case(case_id, data)


def changes(project: Project, run_id_prefix: str = "") -> list[tuple]:
    return sorted(
        project.query(
            "select table_name, column_name, data_type, change, case_id from konnectnxt.schema_changes "
            f"where run_id like '{run_id_prefix}%'"
        )
    )


def last_run_id(project: Project) -> str:
    return project.query("select run_id from konnectnxt.runs order by finished_at desc limit 1")[0][0]


def schema_lines(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip().startswith(("new columns:", "type changes:"))]


def test_new_vendor_keys_and_a_new_value_type_are_listed_in_the_summary_and_recorded(any_project):
    project = any_project
    serve(project, CASE, {"employer": "Acme"})
    first = project.run("--case-id", CASE)
    assert first.returncode == 0, first.stderr
    # A new warehouse: our own tables are no change, the vendor's first keys are its starting shape.
    assert schema_lines(first.stdout) == ["new columns: cases.summary_total, entries.employer"]
    assert changes(project) == [
        ("cases", "summary_total", "bigint", "new column", CASE),
        ("entries", "employer", "text", "new column", CASE),
    ]

    serve(project, CASE, {"employer": "Acme"})
    serve(project, OTHER, {"employer": "Beta", "sla_status": "on_track"}, {"turnaround_hours": 12})
    second = project.run("--case-id", OTHER, "--all-open")
    assert second.returncode == 0, second.stderr
    assert schema_lines(second.stdout) == ["new columns: checks.turnaround_hours, entries.sla_status"]
    assert changes(project, last_run_id(project)) == [
        ("checks", "turnaround_hours", "bigint", "new column", OTHER),
        ("entries", "sla_status", "text", "new column", OTHER),
    ]

    serve(project, CASE, {"employer": "Acme"}, total="three")
    third = project.run("--all-open")
    assert third.returncode == 0, third.stderr
    assert schema_lines(third.stdout) == ["type changes: cases.summary_total now also text"]
    assert changes(project, last_run_id(project)) == [("cases", "summary_total", "text", "type change", CASE)]
    assert project.query(
        f"select summary_total, summary_total__v_text from konnectnxt.cases where case_id = '{CASE}'"
    ) == [(None, "three")]

    # Nothing new: no line, no row.
    fourth = project.run("--all-open")
    assert fourth.returncode == 0, fourth.stderr
    assert schema_lines(fourth.stdout) == []
    assert changes(project, last_run_id(project)) == []


def test_forgetting_a_case_keeps_the_schema_change_without_its_case_id(project):
    serve(project, CASE, {"employer": "Acme"})
    assert project.run("--case-id", CASE).returncode == 0
    forget = project.run("--forget", CASE)
    assert forget.returncode == 0, forget.stderr
    assert changes(project) == [
        ("cases", "summary_total", "bigint", "new column", None),
        ("entries", "employer", "text", "new column", None),
    ]


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def column(name, data_type, **hints):
    return {"name": name, "data_type": data_type, **hints}


def test_only_vendor_columns_and_variants_are_changes():
    update = {
        "_dlt_loads": {"columns": {"load_id": column("load_id", "text")}},
        "cases": {
            "columns": {
                "status": column("status", "text"),
                "_dlt_id": column("_dlt_id", "text"),
                "summary_total__v_text": column("summary_total__v_text", "text", variant=True),
            }
        },
        "entries": {
            "columns": {"sla_status": column("sla_status", "text"), "_tombstone": column("_tombstone", "bool")}
        },
    }
    changes = schema_changes([update], "run1", NOW)
    assert [(c.table_name, c.column_name, c.data_type, c.change) for c in changes] == [
        ("cases", "summary_total", "text", "type change"),
        ("entries", "sla_status", "text", "new column"),
    ]
    assert list(changes.values()) == ["summary_total__v_text", "sla_status"]
    assert summary_lines(list(changes)) == [
        "new columns: entries.sla_status",
        "type changes: cases.summary_total now also text",
    ]


def test_a_long_list_of_changes_names_twenty_and_counts_the_rest():
    update = {"entries": {"columns": {f"k{n:02d}": column(f"k{n:02d}", "bigint") for n in range(25)}}}
    (line,) = summary_lines(list(schema_changes([update], "run1", NOW)))
    assert line.startswith("new columns: entries.k00, entries.k01,") and line.endswith(
        "entries.k19 and 5 more (see schema_changes)"
    )
