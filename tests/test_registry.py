"""The table registry is the one list of tables: what a full run creates, what is personal, what dlt is told."""

from konnectnxt.demo.fake_reports import demo_case_ids
from konnectnxt.table_spec import TOMBSTONE_COLUMN, PersonalData
from konnectnxt.tables import TABLES


def test_every_table_in_the_warehouse_after_a_full_run_is_registered_and_every_registered_one_exists(project):
    no_key = {"SOURCES__KONNECTNXT__API_KEY": ""}
    assert project.run("--demo", env=no_key).returncode == 0
    assert project.run("--demo", "--forget", demo_case_ids()[0], env=no_key).returncode == 0
    created = {
        name
        for (name,) in project.query(
            "select table_name from information_schema.tables where table_schema = 'konnectnxt' "
            "and table_type = 'BASE TABLE'",
            file=project.root / "bgv_demo.duckdb",
        )
        if not name.startswith("_dlt")
    }
    assert created == set(TABLES.names)


def test_every_table_declares_its_personal_data_and_names_only_its_own_columns():
    for table in TABLES:
        assert isinstance(table.personal, PersonalData), table.name
        assert set(table.personal.columns) <= set(table.columns), table.name
        assert set(table.key) <= set(table.columns), table.name


def test_snapshot_tables_are_merged_by_case_with_a_hard_delete_tombstone_and_others_by_their_key():
    for table in TABLES:
        hints = table.resource_hints()
        if table.snapshot:
            assert hints["merge_key"] == "case_id" and "primary_key" not in hints, table.name
            assert hints["columns"][TOMBSTONE_COLUMN]["hard_delete"], table.name
        elif table.write_disposition == "merge":
            assert hints["primary_key"] == list(table.key), table.name
        assert hints["columns"] is not table.resource_hints()["columns"]  # dlt writes into the dicts it gets
