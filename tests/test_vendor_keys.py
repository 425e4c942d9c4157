"""Vendor keys and values through the real CLI: no key lands on another column, case or row; no value changes."""

from conftest import Project

CASE, OTHER = "a" * 32, "b" * 32


def report(**extra):
    return {"status": "in_progress", "result": "pending", "checks": [], **extra}


def columns(project: Project, table: str) -> set[str]:
    return {row[0] for row in project.query(f"describe konnectnxt.{table}")}


def only_row(project: Project, sql: str) -> dict:
    cursor = project.query(sql)
    assert len(cursor) == 1, cursor
    names = [row[0] for row in project.query(f"describe {sql.removeprefix('select * from ').split(' where')[0]}")]
    return dict(zip(names, cursor[0], strict=True))


def test_every_colliding_vendor_key_keeps_its_value_under_its_own_documented_column(project, sandbox):
    sandbox.add_case(OTHER, report(candidate={"name": "Other Person"}, result="clear"))
    entry = {
        "employer": "A",
        "Employer": "B",
        "Case ID": OTHER,
        "checkKey": "criminal",
        "entryIndex": 7,
        "_tombstone": True,
        "_dlt_id": "vendor-row-id",
        "नाम": "first non-ASCII key",
        "名前": "second non-ASCII key",
        "": "empty key",
    }
    check = {
        "type": "employment",
        "status": "in_progress",
        "result": "pending",
        "Check Type": "their type",
        "entries": [entry],
        "fields": [{"label": "Name", "value": "Asha", "Field Index": 9}],
        "documents": [{"url": "https://example.invalid/a.png", "Document Index": 3}],
    }
    data = report(
        CaseID=OTHER,
        candidate={"name": "Asha", "Name": "Asha K.", "email": "asha@example.invalid"},
        summary={"Total": 5, "total": 3},
        checks=[check],
    )
    sandbox.add_case(CASE, data)
    result = project.run("--case-id", OTHER, "--case-id", CASE)
    assert result.returncode == 0, result.stderr

    # The other case keeps its own row; this case has its own, the vendor's CaseID kept beside it.
    assert project.query(f"select candidate_name, result from konnectnxt.cases where case_id = '{OTHER}'") == [
        ("Other Person", "clear")
    ]
    case = only_row(project, f"select * from konnectnxt.cases where case_id = '{CASE}'")
    assert (case["report_case_id"], case["candidate_name"], case["report_candidate_name"]) == (OTHER, "Asha", "Asha K.")
    assert (case["candidate_email"], case["summary_total"], case["report_summary_total"]) == (
        "asha@example.invalid",
        5,
        3,
    )

    checks = project.query(
        f"select check_key, check_type, check_check_type from konnectnxt.checks where case_id = '{CASE}'"
    )
    assert checks == [("employment", "employment", "their type")]

    # The entry stays with its case and check, is not deleted by the vendor's _tombstone, keeps every value.
    row = only_row(project, "select * from konnectnxt.entries")
    assert (row["case_id"], row["check_key"], row["entry_index"]) == (CASE, "employment", 0)
    assert (row["employer"], row["entry_employer"]) == ("A", "B")
    assert (row["entry_case_id"], row["entry_check_key"], row["entry_entry_index"]) == (OTHER, "criminal", 7)
    assert (row["entry_tombstone"], row["entry_dlt_id"]) == (True, "vendor-row-id")
    assert (row["x"], row["entry_x"]) == ("first non-ASCII key", "second non-ASCII key")
    assert row["_empty"] == "empty key"
    assert row["_dlt_id"] != "vendor-row-id"
    assert project.query("select field_index, field_field_index from konnectnxt.check_fields") == [(0, 9)]
    assert project.query("select document_index, document_document_index from konnectnxt.check_documents") == [(0, 3)]
    assert project.query(f"select count(*) from konnectnxt.entries where case_id = '{OTHER}'") == [(0,)]


def test_a_value_is_stored_as_sent_and_never_coerced_into_its_columns_type(project, sandbox):
    def serve(entry, **extra):
        sandbox.add_case(
            CASE,
            report(
                checks=[{"type": "employment", "status": "completed", "result": "clear", "entries": [entry]}], **extra
            ),
        )

    serve(
        {"verified": False, "years": 5, "code": "007", "since": "2019"},
        candidate={"name": "Asha"},
        summary={"total": 1},
    )
    assert project.run("--case-id", CASE).returncode == 0
    serve(
        {"verified": "no", "years": "0x10", "code": " 42 ", "since": "2026-06-15T10:30:00Z", "score": 2**64},
        candidate="Asha Kumari",
        summary=[1, 2],
    )
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    row = only_row(project, "select * from konnectnxt.entries")
    assert (row["verified"], row["verified__v_text"]) == (None, "no")
    assert (row["years"], row["years__v_text"]) == (None, "0x10")
    assert (row["code"], row["since"]) == (" 42 ", "2026-06-15T10:30:00Z")  # text stays text, ISO or not
    assert row["score"] == str(2**64)  # too large for any integer column: kept as its digits
    case = only_row(project, "select * from konnectnxt.cases")
    assert case["candidate"] == "Asha Kumari" and case["candidate_name"] is None
    assert case["summary"] == "[1,2]" and case["summary_total"] is None
    types = dict(
        project.query("select column_name, data_type from information_schema.columns where table_name = 'entries'")
    )
    assert types["verified"] == "BOOLEAN" and types["years"] == "BIGINT" and types["since"] == "VARCHAR"
