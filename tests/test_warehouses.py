"""The contract on every warehouse: the same CLI runs against a DuckDB file and a real PostgreSQL database."""

import re
import threading
import time
from contextlib import closing

import psycopg2
import pytest

from konnectnxt.run_lock import advisory_key
from konnectnxt.tables import TABLES

A, B = "a" * 32, "b" * 32


def serve(sandbox, case_id, status="in_progress", name="Unique Candidate"):
    sandbox.add_case(
        case_id,
        {
            "status": status,
            "result": "pending",
            "candidate": {"name": name},
            "checks": [{"type": "criminal", "status": "in_progress", "result": "pending", "entries": [{"court": "X"}]}],
        },
    )


def test_every_registered_table_and_view_is_created_and_the_views_answer(any_project, sandbox):
    serve(sandbox, A)
    result = any_project.run("--case-id", A)
    assert result.returncode == 0, result.stderr
    assert "not created" not in result.stderr
    kinds = dict(
        any_project.query(
            "select table_name, table_type from information_schema.tables where table_schema = 'konnectnxt'"
        )
    )
    assert {name for name, kind in kinds.items() if kind == "BASE TABLE" and not name.startswith("_dlt")} == set(
        TABLES.names
    )
    views = {name for name, kind in kinds.items() if kind == "VIEW"}
    assert views == {"case_overview", "open_cases_aging", "check_turnaround", "discrepancy_rates", "sla_breaches"}
    assert any_project.query("select case_id, checks_total, checks_pending from konnectnxt.case_overview") == [
        (A, 1, 1)
    ]


def test_an_authentication_failure_changes_nothing(any_project, sandbox):
    from conftest import snapshot

    serve(sandbox, A)
    assert any_project.run("--case-id", A).returncode == 0
    before = snapshot(any_project)
    serve(sandbox, A, status="completed")
    result = any_project.run("--all-open", env={"SOURCES__KONNECTNXT__API_KEY": "revoked"})
    assert result.returncode == 2 and "authentication failed" in result.stderr
    assert snapshot(any_project) == before


def test_forget_erases_a_case_and_records_it_in_the_same_transaction(any_project, sandbox):
    serve(sandbox, A)
    serve(sandbox, B, name="Other Person")
    assert any_project.run("--case-id", A, "--case-id", B).returncode == 0
    forgot = any_project.run("--forget", A)
    assert forgot.returncode == 0, forgot.stderr
    for table in TABLES.per_case:
        assert any_project.query(f"select count(*) from konnectnxt.{table.name} where case_id = '{A}'") == [(0,)]
    assert any_project.query("select case_id from konnectnxt.forgotten_cases") == [(A,)]
    assert any_project.query(f"select count(*) from konnectnxt.cases where case_id = '{B}'") == [(1,)]
    assert any_project.run("--case-id", B).returncode == 0  # and polling goes on


def test_a_run_holding_the_database_lock_keeps_a_run_from_any_host_out(postgres_project, sandbox):
    any_project = postgres_project
    serve(sandbox, A)
    assert any_project.run("--case-id", A).returncode == 0
    high, low = advisory_key("bgv:konnectnxt")
    with closing(psycopg2.connect(any_project.postgres_url)) as other_host:  # what a run elsewhere holds
        other_host.autocommit = True
        with other_host.cursor() as cursor:
            cursor.execute(
                "select set_config('application_name', 'bgv host=cron-2 pid=4242 since=2026-12-01T06:00:00+00:00', false)"
            )
            cursor.execute("select pg_advisory_lock(%s, %s)", (high, low))
        result = any_project.run("--all-open")
    assert result.returncode == 2
    assert "another run is in progress: host cron-2 pid 4242 since 2026-12-01T06:00:00+00:00" in result.stderr
    assert len(sandbox.requests_for(A)) == 1
    assert any_project.run("--all-open").returncode == 0  # the lock died with its session


def test_a_reader_holding_a_table_lock_delays_a_run_at_most_lock_wait_seconds(postgres_project, sandbox):
    any_project = postgres_project
    serve(sandbox, A)
    assert any_project.run("--case-id", A).returncode == 0
    with closing(psycopg2.connect(any_project.postgres_url)) as reader:
        with reader.cursor() as cursor:
            cursor.execute("lock table konnectnxt.tracked_cases in access exclusive mode")
            started = time.monotonic()
            result = any_project.run("--all-open", env={"SOURCES__KONNECTNXT__LOCK_WAIT_SECONDS": "2"}, timeout=60)
            waited = time.monotonic() - started
        reader.rollback()
    assert result.returncode == 2, result.stderr
    assert waited < 30
    assert re.search(r"bgv: .*(busy|lock)", result.stderr.strip().splitlines()[-1]), result.stderr


def test_a_misspelled_destination_exits_2_naming_the_known_ones(project):
    result = project.run("--case-id", A, env={"PIPELINES__BGV__DESTINATION_TYPE": "postgress"})
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "did you mean postgres?" in line and "duckdb" in line and "Traceback" not in result.stderr


def test_the_demo_follows_the_configured_warehouse_into_its_own_dataset(postgres_project, tmp_path, postgres_url):
    project = postgres_project
    result = project.run("--demo", env={"SOURCES__KONNECTNXT__API_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert project.query("select count(*) from konnectnxt_demo.cases") == [(50,)]
    assert not (tmp_path / "bgv_demo.duckdb").exists() and not (tmp_path / "bgv.duckdb").exists()
    assert "password" not in result.stdout and postgres_url.split(":")[2].split("@")[0] not in result.stdout


def sessions(cursor) -> int:
    """Sessions the database counted so far (PostgreSQL 14+ counts each ended one)."""
    cursor.execute("select pg_stat_clear_snapshot()")
    cursor.execute("select sessions from pg_stat_database where datname = current_database()")
    return cursor.fetchone()[0]


def connections_during(postgres_url: str, action) -> tuple[int, int]:
    """(connections opened, most open at once) to the database while `action` runs."""
    peak = 0
    stop = threading.Event()
    with closing(psycopg2.connect(postgres_url)) as admin:
        admin.autocommit = True

        def watch():
            nonlocal peak
            with admin.cursor() as cursor:
                while not stop.is_set():
                    cursor.execute(
                        "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
                    )
                    peak = max(peak, len(cursor.fetchall()))
                    time.sleep(0.005)

        with admin.cursor() as cursor:
            before = sessions(cursor)
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            action()
        finally:
            stop.set()
            watcher.join()
        time.sleep(0.5)  # the ended sessions' counts reach the statistics
        with admin.cursor() as cursor:
            return sessions(cursor) - before, peak


def test_a_run_opens_a_small_fixed_number_of_connections_whatever_its_size(
    postgres_project, sandbox, tmp_path, postgres_url
):
    project, env = postgres_project, {}
    few, many = [f"{i + 1:032x}" for i in range(10)], [f"{i + 100:032x}" for i in range(200)]
    for case_id in few + many:
        serve(sandbox, case_id)
    measured = {}
    for name, case_ids in (("few", few), ("many", many)):
        (tmp_path / "ids.txt").write_text("\n".join(case_ids))
        # Registered (and the warehouse created) first; then a run that polls every open case is measured.
        assert project.run("--cases-file", str(tmp_path / "ids.txt"), env=env).returncode == 0
        measured[name] = connections_during(
            postgres_url, lambda: project.run("--all-open", env=env).returncode == 0 or pytest.fail("run failed")
        )
    (opened_few, peak_few), (opened_many, peak_many) = measured["few"], measured["many"]
    assert opened_many <= opened_few + 2, measured  # not one more per case
    print("connections opened, most at once:", measured)
    assert max(peak_few, peak_many) <= 3, measured  # the run's own, plus one load job at a time


def test_a_script_reads_the_configured_warehouse_through_dlt_read_only(any_project, sandbox, monkeypatch):
    from dlt.common.configuration.container import Container
    from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

    from konnectnxt.reading import read_warehouse

    serve(sandbox, A)
    assert any_project.run("--case-id", A).returncode == 0
    for key, value in any_project.environment().items():
        monkeypatch.setenv(key, value)
    context = Container()[PluggableRunContext]
    original = context.context.run_dir
    context.reload(str(any_project.root))
    try:
        data = read_warehouse(
            {"cases": "select case_id, status from {dataset}.cases", "nope": "select * from {dataset}.nope"}
        )
        refused = read_warehouse({"write": "create table {dataset}.scribble (x int)"})
    except Exception as exc:  # noqa: BLE001 - the write must be refused
        refused = exc
    finally:
        context.reload(original)
    assert data.frames["cases"].values.tolist() == [[A, "in_progress"]]
    assert data.missing == ["nope"]
    assert "read-only" in str(refused).lower().replace("read only", "read-only"), repr(refused)
