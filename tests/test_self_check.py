"""The warehouse checks itself before a run picks what is due, through the real CLI on real DuckDB files."""

import time
from contextlib import closing

import duckdb

from conftest import Project, assert_no_duplicates, warehouse_columns

A, B, C, D = "a" * 32, "b" * 32, "c" * 32, "d" * 32
HISTORY = ("case_status_history", "check_status_history")


def report(status: str = "completed", result: str = "clear") -> dict:
    return {
        "status": status,
        "result": result,
        "candidate": {"name": "Asha"},
        "checks": [
            {"type": "criminal", "status": "completed", "result": "clear"},
            {"type": "employment", "status": "completed", "result": "clear", "entries": [{"employer": "Acme"}]},
        ],
    }


def whole_warehouse(project: Project) -> dict:
    """Report tables and history, without dlt's columns and the time of the last fetch."""
    whole = {}
    for table in ("cases", "checks", "entries", *HISTORY):
        names = [n for n in warehouse_columns(project, table) if not n.startswith("_dlt") and n != "last_fetched_at"]
        columns = ", ".join(f'"{name}"' for name in names)
        whole[table] = sorted(project.query(f"select {columns} from konnectnxt.{table}"), key=repr)
    return whole


def execute(project: Project, *statements: str) -> None:
    """Write to the project's warehouse behind the pipeline's back."""
    if project.postgres_url:
        import psycopg2

        with closing(psycopg2.connect(project.postgres_url)) as connection, connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            connection.commit()
        return
    with duckdb.connect(str(project.duckdb_file)) as connection:
        for statement in statements:
            connection.execute(statement)


def test_a_case_whose_stored_report_is_missing_is_fetched_again_and_an_untracked_one_is_reported(any_project, sandbox):
    project = any_project
    project.env["SOURCES__KONNECTNXT__RECHECK_TERMINAL_AFTER"] = "[1, 3600]"  # C is re-checked beside them
    for case_id in (A, B, C):
        sandbox.add_case(case_id, report())
    sandbox.add_case(D, report("in_progress", "pending"))
    first = project.run("--case-id", A, "--case-id", B, "--case-id", C)
    assert first.returncode == 0, first.stderr
    assert "self-check" not in first.stdout
    whole = whole_warehouse(project)

    # What a load that wrote tracked_cases but not the report tables leaves, and rows nobody tracks.
    execute(
        project,
        *(
            f"delete from konnectnxt.{table} where case_id in ('{A}', '{B}')"
            for table in ("cases", "checks", "entries")
        ),
        f"insert into konnectnxt.cases (case_id, status, _dlt_load_id, _dlt_id) values ('{D}', 'in_progress', 'x', 'y')",
    )
    time.sleep(1.1)

    repaired = project.run()
    assert repaired.returncode == 0, repaired.stderr
    line = (
        "self-check: 2 case(s) had no stored report and are due again; "
        f"1 case(s) in the report tables are not tracked: {D}"
    )
    assert line in repaired.stdout and line in repaired.stderr
    assert "fetched:         3" in repaired.stdout
    assert "re-checked 1 completed case(s)" in repaired.stdout  # C; A and B are restored, not re-checked
    assert [len(sandbox.requests_for(case_id)) for case_id in (A, B, C, D)] == [2, 2, 2, 0]
    after = whole_warehouse(project)
    after["cases"] = [row for row in after["cases"] if row[0] != D]
    assert after == whole  # whole again: same first_seen/first_completed, no history row repeated
    assert_no_duplicates(project)

    again = project.run()
    assert again.returncode == 0, again.stderr
    assert f"self-check: 1 case(s) in the report tables are not tracked: {D}" in again.stdout
    assert "due:             0" in again.stdout
    assert project.query(f"select count(*) from konnectnxt.cases where case_id = '{D}'") == [(1,)]  # never deleted
