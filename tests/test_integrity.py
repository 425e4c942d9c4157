"""The warehouse is the truth: lost, replaced, restored or other warehouses never break a run or mix data.

Each test drives the real CLI against the sandbox and real DuckDB files, and follows a run with a
deleted, emptied, restored or switched warehouse on purpose.
"""

import re
import shutil

import duckdb

from conftest import Project, assert_no_duplicates, new_project
from konnectnxt.demo.fake_reports import demo_case_ids

NO_KEY = {"SOURCES__KONNECTNXT__API_KEY": ""}
A, B, C = "a" * 32, "b" * 32, "c" * 32


def count(project: Project, sql: str, file=None) -> int:
    return project.query(sql, file=file)[0][0]


def serve(sandbox, *case_ids, status="in_progress", **extra):
    for case_id in case_ids:
        sandbox.add_case(
            case_id,
            {
                "status": status,
                "result": "pending",
                "checks": [{"type": "criminal", "status": "in_progress", "result": "pending", **extra}],
            },
        )


def assert_one_clean_line_or_none(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert all(re.match(r"\d{4}-\d\d-\d\dT|bgv: ", line) for line in stderr.splitlines()), stderr


def test_a_deleted_demo_database_comes_back_as_a_fresh_demo(project):
    demo_file = project.root / "bgv_demo.duckdb"
    assert project.run("--demo", env=NO_KEY).returncode == 0
    demo_file.unlink()
    again = project.run("--demo", env=NO_KEY)
    assert again.returncode == 0, again.stderr
    assert f"new warehouse at {demo_file}: starting from the ids given to this run" in again.stderr
    assert_one_clean_line_or_none(again.stderr)
    assert count(project, "select count(*) from konnectnxt.cases", demo_file) == 50
    assert {r[0] for r in project.query("select case_id from konnectnxt.tracked_cases", file=demo_file)} == set(
        demo_case_ids()
    )
    assert project.run("--demo", env=NO_KEY).returncode == 0  # and every later run works too


def test_a_lost_or_emptied_warehouse_is_rebuilt_from_the_ids_given_to_the_run(project, sandbox):
    serve(sandbox, A, B)
    assert project.run("--case-id", A).returncode == 0
    for damage in ("delete", "empty file", "new database without tables"):
        if damage == "delete":
            project.duckdb_file.unlink()
        elif damage == "empty file":
            project.duckdb_file.write_bytes(b"")
        else:
            project.duckdb_file.unlink()
            duckdb.connect(str(project.duckdb_file)).close()
        result = project.run("--case-id", B)
        assert result.returncode == 0, (damage, result.stderr)
        assert "new warehouse at" in result.stderr, damage
        assert_one_clean_line_or_none(result.stderr)
        # Only what this run was given: A is not invented back from local state.
        assert project.query("select case_id from konnectnxt.tracked_cases") == [(B,)], damage
        tables = {r[0] for r in project.query("select table_name from information_schema.tables")}
        assert {"cases", "checks", "fetch_errors", "check_status_history", "runs", "raw_reports"} - {
            "raw_reports"
        } <= tables


def test_tables_dropped_from_the_warehouse_are_created_again(project, sandbox):
    serve(sandbox, A)
    assert project.run("--case-id", A).returncode == 0
    with duckdb.connect(str(project.duckdb_file)) as connection:
        connection.execute("drop table konnectnxt.check_status_history")
        connection.execute("drop table konnectnxt.fetch_errors")
        connection.execute("alter table konnectnxt.checks drop column remark")
    serve(sandbox, A, status="in_audit", remark="all good")
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    assert count(project, "select count(*) from konnectnxt.check_status_history") == 0  # no check changed
    assert count(project, "select count(*) from konnectnxt.fetch_errors") == 0
    assert project.query("select remark from konnectnxt.checks") == [("all good",)]
    assert count(project, "select count(*) from konnectnxt.case_status_history") == 2


def test_a_restored_older_backup_polls_its_open_cases_again_and_invents_nothing(project, sandbox, clock):
    serve(sandbox, A, B)
    assert project.run("--case-id", A, "--case-id", B).returncode == 0
    backup = project.root / "backup.duckdb"
    shutil.copy(project.duckdb_file, backup)
    serve(sandbox, A, status="completed")
    serve(sandbox, C)
    assert project.run("--all-open", "--case-id", C).returncode == 0
    assert count(project, "select count(*) from konnectnxt.tracked_cases") == 3

    shutil.copy(backup, project.duckdb_file)
    requests_before = len(sandbox.requests_for(A))
    restored = project.run("--all-open")
    assert restored.returncode == 0, restored.stderr
    assert "the warehouse is older than the local state" in restored.stderr
    assert len(sandbox.requests_for(A)) == requests_before + 1  # open in the backup: polled again
    assert sorted(r[0] for r in project.query("select case_id from konnectnxt.tracked_cases")) == [A, B]
    assert project.query(f"select status from konnectnxt.cases where case_id = '{A}'") == [("completed",)]
    history = project.query(
        f"select status from konnectnxt.case_status_history where case_id = '{A}' order by observed_at"
    )
    assert history == [("in_progress",), ("completed",)]
    assert_no_duplicates(project)


def test_a_new_working_dir_takes_the_schema_of_an_existing_warehouse(project, sandbox):
    serve(sandbox, A, pincode=560034)
    assert project.run("--case-id", A).returncode == 0
    shutil.rmtree(project.data_dir)
    serve(sandbox, A, pincode="560034A")
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    values = project.query("select * from konnectnxt.checks")
    assert values and "560034A" in repr(values) and "560034" in repr(values)


def test_pointing_the_pipeline_at_another_file_starts_a_new_warehouse_and_leaves_the_old_one(project, sandbox):
    serve(sandbox, A, B)
    assert project.run("--case-id", A).returncode == 0
    other = project.root / "other.duckdb"
    moved = {"DESTINATION__DUCKDB__CREDENTIALS": str(other)}
    result = project.run("--case-id", B, env=moved)
    assert result.returncode == 0, result.stderr
    assert f"new warehouse at {other}" in result.stderr
    assert project.query("select case_id from konnectnxt.tracked_cases", file=other) == [(B,)]
    assert project.query("select case_id from konnectnxt.tracked_cases") == [(A,)]
    back = project.run("--all-open")
    assert back.returncode == 0, back.stderr
    assert "new warehouse" not in back.stderr
    assert project.query("select case_id from konnectnxt.tracked_cases") == [(A,)]


def test_pending_data_only_ever_loads_into_the_warehouse_it_was_made_for(project, sandbox):
    serve(sandbox, A, B, C)
    assert project.run("--case-id", A).returncode == 0
    project.leave_pending_registration(C, "interrupted")  # made for bgv.duckdb
    other = project.root / "other.duckdb"
    moved = project.run("--case-id", B, env={"DESTINATION__DUCKDB__CREDENTIALS": str(other)})
    assert moved.returncode == 0, moved.stderr
    assert "pending load package(s) made for another warehouse" in moved.stderr
    assert count(project, f"select count(*) from konnectnxt.tracked_cases where case_id = '{C}'", other) == 0
    assert count(project, f"select count(*) from konnectnxt.tracked_cases where case_id = '{C}'") == 0

    home = project.run("--all-open")
    assert home.returncode == 0, home.stderr
    assert "set aside earlier for this warehouse are back" in home.stderr
    assert project.query(f"select source from konnectnxt.tracked_cases where case_id = '{C}'") == [("interrupted",)]
    assert count(project, f"select count(*) from konnectnxt.tracked_cases where case_id = '{C}'", other) == 0


def test_two_checkouts_with_default_settings_never_share_a_working_dir(tmp_path, sandbox):
    serve(sandbox, A, B)
    first, second = (new_project(tmp_path / name, sandbox) for name in ("one", "two"))
    for project, case_id in ((first, A), (second, B)):
        project.root.mkdir()
        result = project.run("--case-id", case_id, env={"DLT_DATA_DIR": None})
        assert result.returncode == 0, result.stderr
        assert (project.root / ".dlt" / "data" / "pipelines" / "bgv" / "state.json").is_file()
        assert (project.root / ".dlt" / "data" / "pipelines").stat().st_mode & 0o077 == 0
    first.leave_pending_registration(C, "interrupted", first.root / ".dlt" / "data" / "pipelines")
    assert second.run("--all-open", env={"DLT_DATA_DIR": None}).returncode == 0
    assert second.query("select case_id from konnectnxt.tracked_cases") == [(B,)]


def snapshot_report(status, generated, result="pending", criminal=("in_progress", "pending")):
    return {
        "status": status,
        "result": result,
        "generated_at": generated,
        "candidate": {"name": "Asha"},
        "checks": [{"type": "criminal", "status": criminal[0], "result": criminal[1]}],
    }


def test_an_older_snapshot_changes_nothing_and_is_counted(project, sandbox):
    sandbox.add_case(A, snapshot_report("in_audit", "2026-06-16T10:00:00+00:00", criminal=("completed", "clear")))
    assert project.run("--case-id", A).returncode == 0
    before = {
        table: project.query(f"select * from konnectnxt.{table} order by all")
        for table in ("cases", "checks", "case_status_history", "check_status_history")
    }
    step = project.query("select poll_step from konnectnxt.tracked_cases")[0][0]

    sandbox.add_case(A, snapshot_report("in_progress", "2026-06-15T10:00:00+00:00"))  # served late by a replica
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    assert "stale snapshots ignored: 1" in result.stdout
    for table, rows in before.items():
        assert project.query(f"select * from konnectnxt.{table} order by all") == rows, table
    assert project.query("select poll_step from konnectnxt.tracked_cases")[0][0] == step + 1  # not reset

    # A report without a readable generated_at is taken as new.
    sandbox.add_case(A, snapshot_report("completed", "sometime today", "clear", ("completed", "clear")))
    assert project.run("--all-open").returncode == 0
    assert project.query("select status from konnectnxt.cases") == [("completed",)]
    # --refresh-completed follows the same rule.
    sandbox.add_case(A, snapshot_report("in_audit", "2026-06-14T10:00:00+00:00"))
    refreshed = project.run("--refresh-completed")
    assert refreshed.returncode == 0 and "stale snapshots ignored: 1" not in refreshed.stdout  # stored one unreadable
    assert project.query("select status from konnectnxt.cases") == [("in_audit",)]


def test_values_no_column_type_holds_are_kept_as_text_and_never_stop_the_other_cases(project, sandbox):
    odd = {
        "status": "completed",
        "result": "clear",
        "generated_at": "0001-01-01T00:00:00",
        "summary": {"total": 2**63},
        "checks": [
            {
                "type": "criminal",
                "status": "completed",
                "result": "clear",
                "completed_at": "0001-01-01T00:00:00",
                "entries": [{"score": -(2**63) - 1, "ratio": float("inf"), "deep": {"a": [[[[{"b": 2**70}]]]]}}],
            }
        ],
    }
    sandbox.add_case(A, odd)
    serve(sandbox, B)
    result = project.run("--case-id", A, "--case-id", B)
    assert result.returncode == 0, result.stderr
    assert project.query(f"select count(*) from konnectnxt.cases where case_id = '{B}'") == [(1,)]
    assert project.query(
        "select completed_at, completed_at_raw from konnectnxt.checks where case_id = 'a' || repeat('a', 31)"
    ) == [(None, "0001-01-01T00:00:00")]
    entry = project.query("select score, ratio, deep from konnectnxt.entries")[0]
    assert entry[0] == str(-(2**63) - 1) and entry[1] == "Infinity" and str(2**70) in entry[2]
    total = project.query(f"select summary_total from konnectnxt.cases where case_id = '{A}'")[0][0]
    assert total == str(2**63)
    assert project.query(f"select count(*) from konnectnxt.raw_reports where case_id = '{A}'") == [(1,)]


def test_rebuild_re_derives_the_report_tables_from_raw_reports_without_a_request(project, sandbox):
    sandbox.add_case(A, snapshot_report("in_audit", "2026-06-16T10:00:00+00:00", criminal=("completed", "clear")))
    serve(sandbox, B, pincode="560034")
    hashed = {"SOURCES__KONNECTNXT__PII": "hash", "SOURCES__KONNECTNXT__PII_SALT": "salt-for-rebuild"}
    assert project.run("--case-id", A, "--case-id", B, env=hashed).returncode == 0
    tables = ["cases", "checks", "entries", "check_fields", "check_documents"]
    history = ["case_status_history", "check_status_history", "tracked_cases"]

    def state():
        return {
            t: project.query(f"select * exclude (_dlt_load_id, _dlt_id) from konnectnxt.{t} order by all")
            for t in tables + history
        }

    before = state()
    with duckdb.connect(str(project.duckdb_file)) as connection:  # what an upgrade would re-derive
        connection.execute("delete from konnectnxt.checks")
        connection.execute("update konnectnxt.cases set status = null")
    requests = len(sandbox.requests)
    rebuilt = project.run("--rebuild", env=hashed)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 2 case(s) from raw_reports" in rebuilt.stdout, rebuilt.stdout + rebuilt.stderr
    assert len(sandbox.requests) == requests
    after = state()
    for table in tables + history:
        assert after[table] == before[table], (table, rebuilt.stdout)
    assert project.query(
        "select candidate_name <> 'Asha' and length(candidate_name) = 64 from konnectnxt.cases limit 1"
    ) == [(True,)]


def test_without_home_the_working_dir_stays_in_the_project_private_to_the_account(tmp_path, sandbox):
    serve(sandbox, A)
    project = new_project(tmp_path / "checkout", sandbox)
    project.root.mkdir()
    result = project.run("--case-id", A, env={"DLT_DATA_DIR": None, "HOME": None})
    assert result.returncode == 0, result.stderr
    working_dir = project.root / ".dlt" / "data"
    assert (working_dir / "pipelines" / "bgv" / "state.json").is_file()
    paths = [working_dir, *working_dir.rglob("*")]
    assert [str(p) for p in paths if p.is_dir() and p.stat().st_mode & 0o077] == []
    assert [str(p) for p in paths if p.is_file() and p.stat().st_mode & 0o077] == []
    assert project.duckdb_file.stat().st_mode & 0o077 == 0
