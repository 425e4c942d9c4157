"""The table registry is the one list of tables: what a full run creates, what is personal, what dlt is told."""

from pathlib import Path

import dlt
import pytest
from dlt.extract import materialize_schema_item

from konnectnxt import warehouse_tables
from konnectnxt.demo.fake_reports import demo_case_ids
from konnectnxt.schema_settings import keep_values_as_sent
from konnectnxt.settings import LOADER_FILE_FORMAT, SOURCE_NAME
from konnectnxt.table_spec import TOMBSTONE_COLUMN, PersonalData
from konnectnxt.tables import TABLES
from konnectnxt.warehouse_check import existing_tables, holds_the_local_state, prepare_warehouse


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


def materialized_schema(root: Path) -> dict:
    """The registry's tables as dlt's schema holds them after an empty file of each was extracted,
    normalized and loaded: how the tables were created before `declared_table`, kept here as the reference."""
    pipeline = dlt.pipeline(
        "materialized",
        pipelines_dir=str(root / "pipelines"),
        dataset_name="konnectnxt",
        destination=dlt.destinations.duckdb(credentials=str(root / "materialized.duckdb")),
    )

    @dlt.source(name=SOURCE_NAME, max_table_nesting=0)
    def materialized():
        keep_values_as_sent()
        return [dlt.resource([materialize_schema_item()], **table.resource_hints()) for table in TABLES]

    pipeline.run(materialized(), loader_file_format=LOADER_FILE_FORMAT)
    return pipeline.default_schema.to_dict()


def without_versions(schema: dict) -> dict:
    return {key: value for key, value in schema.items() if key not in ("version", "version_hash", "previous_hashes")}


@pytest.mark.parametrize("known_before", [0, 5], ids=["new working dir", "working dir knowing five tables"])
def test_tables_declared_without_rows_are_what_dlt_makes_of_an_empty_file_of_each(in_process, tmp_path, known_before):
    warehouse = in_process.warehouse
    if known_before:
        warehouse.load(warehouse_tables(list(TABLES)[:known_before]))
    prepare_warehouse(warehouse)
    reference = without_versions(materialized_schema(tmp_path / "reference"))
    declared = without_versions(warehouse.pipeline.default_schema.to_dict())
    assert declared == reference
    existing = existing_tables(warehouse)
    for name, table in reference["tables"].items():
        assert set(table["columns"]) == existing[name], name
    # The new working dir's state went into the warehouse: another working dir takes it from there.
    assert in_process.query("select count(*) from konnectnxt._dlt_pipeline_state")[0][0] == 1
    assert holds_the_local_state(warehouse)
