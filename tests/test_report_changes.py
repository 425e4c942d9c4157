"""When the vendor's report changes, through the real CLI: absence is never deletion, a check keeps its key."""

import copy
import json

import duckdb
import pytest

from conftest import Project, ids_file

A, B = "a" * 32, "b" * 32
STORED = ["cases", "checks", "entries", "check_fields", "check_documents", "case_status_history"]
STORED += ["check_status_history"]


def employment(employer, status="in_progress", result="pending"):
    entry = {"employer": employer, "designation": "Engineer", "status": status, "result": result}
    return {"type": "employment", "name": "Employment Verification", "status": status, "result": result,
            "entries": [entry]}  # fmt: skip


def criminal(status="completed", result="clear"):
    return {
        "type": "criminal",
        "status": status,
        "result": result,
        "fields": [{"label": "Court", "value": "Pune"}],
        "documents": ["https://example.invalid/a.png"],
    }


def report(*checks, status="in_progress", result="pending"):
    return {"status": status, "result": result, "reference_id": "REF-1", "candidate": {"name": "Asha"},
            "checks": list(checks)}  # fmt: skip


def stored(project: Project) -> dict:
    return {
        table: project.query(f"select * exclude (_dlt_load_id, _dlt_id) from konnectnxt.{table} order by all")
        for table in STORED
    }


def keys_by_employer(project: Project) -> dict:
    return dict(project.query("select employer, check_key from konnectnxt.entries where employer is not null"))


def without(data: dict, key: str) -> dict:
    return {k: v for k, v in data.items() if k != key}


VALID = report(employment("Infosys"), criminal())
BROKEN = {
    "checks missing": without(VALID, "checks"),
    "checks null": {**VALID, "checks": None},
    "checks an object": {**VALID, "checks": {}},
    "checks a string": {**VALID, "checks": "employment,criminal"},
    "checks renamed": {**without(VALID, "checks"), "check_list": VALID["checks"]},
    "data empty": {},
    "no status": without(VALID, "status"),
    "a check's type renamed": {
        **VALID,
        "checks": [{**without(check, "type"), "check_type": check["type"]} for check in VALID["checks"]],
    },
}
REASONS = {
    "data empty": 'report shape changed: no "status"; no "checks" list',
    "no status": 'report shape changed: no "status"',
    "a check's type renamed": 'report shape changed: check 1 has no "type"; check 2 has no "type"',
}


def test_a_report_missing_a_part_is_kept_out_and_changes_nothing_stored(project, sandbox):
    # One case per shape, all in the same runs: each report is judged on its own.
    case_ids = {shape: f"{number:032x}" for number, shape in enumerate(BROKEN, start=1)}
    for case_id in case_ids.values():
        sandbox.add_case(case_id, VALID)
    assert project.run("--cases-file", ids_file(project, list(case_ids.values()))).returncode == 0
    before = stored(project)
    assert len(before["checks"]) == 2 * len(BROKEN) and len(before["entries"]) == len(BROKEN)
    for shape, case_id in case_ids.items():
        sandbox.add_case(case_id, BROKEN[shape])
    for failures in (1, 2):
        result = project.run("--all-open")
        assert result.returncode == 1, result.stderr
        assert f"reports kept out (shape changed): {len(BROKEN)}" in result.stdout, result.stdout
        assert stored(project) == before
        latest_errors = {
            case_id: (status, message)
            for case_id, status, message in project.query(
                "select case_id, http_status, error_message from konnectnxt.fetch_errors "
                "qualify row_number() over (partition by case_id order by failed_at desc) = 1"
            )
        }
        raw = {
            case_id: json.loads(text)
            for case_id, text in project.query("select case_id, report from konnectnxt.raw_reports")
        }
        tracked = {
            row[0]: row[1:]
            for row in project.query(
                "select case_id, last_status, consecutive_failures, not_found_at from konnectnxt.tracked_cases"
            )
        }
        for shape, case_id in case_ids.items():
            reason = REASONS.get(shape, 'report shape changed: no "checks" list')
            assert latest_errors[case_id] == (200, reason), shape
            assert raw[case_id] == BROKEN[shape], shape
            assert tracked[case_id] == ("in_progress", failures, None), shape

    # The vendor answers in the known shape again: applied, the backoff starts over.
    for case_id in case_ids.values():
        sandbox.add_case(case_id, report(employment("Infosys", "completed", "clear"), criminal()))
    assert project.run("--all-open").returncode == 0
    assert project.query("select distinct consecutive_failures from konnectnxt.tracked_cases") == [(0,)]
    assert project.query("select distinct check_key, status from konnectnxt.checks order by 1") == [
        ("criminal", "completed"),
        ("employment", "completed"),
    ]


def test_a_kept_out_report_never_records_a_null_status_nor_reopens_a_completed_case(project, sandbox):
    sandbox.add_case(A, report(criminal(), status="completed", result="clear"))
    assert project.run("--case-id", A).returncode == 0
    sandbox.add_case(A, without(report(criminal()), "status"))
    result = project.run("--refresh-completed")
    assert result.returncode == 1 and "reports kept out (shape changed): 1" in result.stdout
    assert project.query("select status from konnectnxt.case_status_history") == [("completed",)]
    assert project.query("select last_status from konnectnxt.tracked_cases") == [("completed",)]
    assert project.query("select status, result from konnectnxt.cases") == [("completed", "clear")]
    # Still terminal: a plain run does not poll it.
    requests = len(sandbox.requests_for(A))
    assert project.run("--all-open").returncode == 0
    assert len(sandbox.requests_for(A)) == requests


def test_an_explicit_empty_checks_list_is_a_real_answer_that_replaces_the_checks(project, sandbox):
    sandbox.add_case(A, VALID)
    assert project.run("--case-id", A).returncode == 0
    sandbox.add_case(A, report())
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    assert "reports kept out" not in result.stdout
    for table in ("checks", "entries", "check_fields", "check_documents"):
        assert project.query(f"select count(*) from konnectnxt.{table}") == [(0,)], table


def test_a_kept_out_report_never_counts_toward_not_found(project, sandbox):
    sandbox.add_case(A, {})
    env = {"SOURCES__KONNECTNXT__NOT_FOUND_AFTER_HOURS": "0"}
    assert project.run("--case-id", A, env=env).returncode == 1
    for _ in range(2):
        assert project.run("--all-open", env=env).returncode == 1
    assert project.query(
        "select not_found_at, first_not_found_at, consecutive_failures from konnectnxt.tracked_cases"
    ) == [(None, None, 3)]
    assert project.query("select count(*) from konnectnxt.cases") == [(0,)]


def test_rebuild_applies_a_kept_out_report_once_its_shape_passes_and_counts_the_others(project, sandbox):
    sandbox.add_case(A, VALID)
    sandbox.add_case(B, VALID)
    assert project.run("--case-id", A, "--case-id", B).returncode == 0
    sandbox.add_case(A, BROKEN["checks renamed"])
    sandbox.add_case(B, BROKEN["no status"])
    assert project.run("--all-open").returncode == 1
    before = stored(project)

    # This version cannot apply either: both keep what is stored, and the summary counts them.
    kept = project.run("--rebuild")
    assert kept.returncode == 0, kept.stderr
    assert "rebuilt 0 case(s)" in kept.stdout and "reports kept out (shape changed): 2" in kept.stdout, kept.stdout
    assert stored(project) == before

    # The code learns the shape (simulated: the raw report now holds what this version reads).
    learned = report(employment("Infosys", "completed", "clear"), criminal("completed", "discrepancy"))
    with duckdb.connect(str(project.duckdb_file)) as connection:
        connection.execute("update konnectnxt.raw_reports set report = ? where case_id = ?", [json.dumps(learned), A])
    requests = len(sandbox.requests)
    rebuilt = project.run("--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt 1 case(s)" in rebuilt.stdout and "reports kept out (shape changed): 1" in rebuilt.stdout
    assert len(sandbox.requests) == requests
    assert project.query(
        f"select check_key, status, result from konnectnxt.checks where case_id = '{A}' order by 1"
    ) == [
        ("criminal", "completed", "discrepancy"),
        ("employment", "completed", "clear"),
    ]
    after = stored(project)
    assert [row for row in after["checks"] if row[0] == B] == [row for row in before["checks"] if row[0] == B]


def test_two_checks_of_a_type_reordered_keep_their_keys_and_nothing_changes(project, sandbox):
    first = report(employment("Infosys", "completed", "discrepancy"), employment("TCS"), criminal())
    sandbox.add_case(A, first)
    assert project.run("--case-id", A).returncode == 0
    keys = keys_by_employer(project)
    assert keys == {"Infosys": "employment", "TCS": "employment#2"}
    before = stored(project)
    step = project.query("select poll_step from konnectnxt.tracked_cases")[0][0]

    reordered = copy.deepcopy(first)
    reordered["checks"] = [reordered["checks"][2], reordered["checks"][1], reordered["checks"][0]]
    reordered["checks"][0]["fields"].reverse()
    sandbox.add_case(A, reordered)
    result = project.run("--all-open")
    assert result.returncode == 0, result.stderr
    assert "changed:         0" in result.stdout, result.stdout
    assert keys_by_employer(project) == keys
    after = stored(project)
    assert after["check_status_history"] == before["check_status_history"]
    assert after["case_status_history"] == before["case_status_history"]
    assert project.query("select poll_step from konnectnxt.tracked_cases")[0][0] == step + 1  # backoff not reset


def test_a_check_inserted_first_takes_a_new_key_and_the_stored_one_keeps_its_own(project, sandbox):
    sandbox.add_case(A, report(employment("Infosys", "completed", "clear")))
    assert project.run("--case-id", A).returncode == 0
    sandbox.add_case(A, report(employment("Wipro"), employment("Infosys", "completed", "clear")))
    assert project.run("--all-open").returncode == 0
    assert keys_by_employer(project) == {"Infosys": "employment", "Wipro": "employment#2"}
    history = project.query("select check_key, status from konnectnxt.check_status_history order by observed_at, 1")
    assert history == [("employment", "completed"), ("employment#2", "in_progress")]


def test_a_reorder_with_one_real_status_change_records_it_for_that_check_only(project, sandbox):
    sandbox.add_case(A, report(employment("Infosys", "completed", "discrepancy"), employment("TCS")))
    assert project.run("--case-id", A).returncode == 0
    sandbox.add_case(
        A, report(employment("TCS", "completed", "clear"), employment("Infosys", "completed", "discrepancy"))
    )
    result = project.run("--all-open")
    assert result.returncode == 0 and "changed:         1" in result.stdout, result.stdout
    assert keys_by_employer(project) == {"Infosys": "employment", "TCS": "employment#2"}
    history = project.query(
        "select check_key, status, result from konnectnxt.check_status_history order by observed_at, check_key"
    )
    assert history == [
        ("employment", "completed", "discrepancy"),
        ("employment#2", "in_progress", "pending"),
        ("employment#2", "completed", "clear"),
    ]
    assert project.query("select check_key, status from konnectnxt.checks order by 1") == [
        ("employment", "completed"),
        ("employment#2", "completed"),
    ]


def test_rebuild_keeps_each_check_under_its_stored_key(project, sandbox):
    sandbox.add_case(A, report(employment("Infosys", "completed", "clear")))
    assert project.run("--case-id", A).returncode == 0
    sandbox.add_case(A, report(employment("Wipro"), employment("Infosys", "completed", "clear")))
    assert project.run("--all-open").returncode == 0
    keys = keys_by_employer(project)
    rebuilt = project.run("--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert keys_by_employer(project) == keys == {"Infosys": "employment", "Wipro": "employment#2"}


@pytest.mark.parametrize("pii", ["keep", "hash"])
def test_addresses_swapping_places_keep_their_keys_under_every_pii_mode(project, sandbox, pii):
    env = {"SOURCES__KONNECTNXT__PII": pii, "SOURCES__KONNECTNXT__PII_SALT": "salt-for-identity"}

    def address(street, status):
        entry = {"address": street, "city": "Pune", "status": status, "result": "clear"}
        return {"type": "address", "status": status, "result": "clear", "entries": [entry]}

    sandbox.add_case(A, report(address("12, MG Road", "completed"), address("4, Park Street", "in_progress")))
    assert project.run("--case-id", A, env=env).returncode == 0
    before = project.query("select check_key, address from konnectnxt.entries order by 1")
    sandbox.add_case(A, report(address("4, Park Street", "completed"), address("12, MG Road", "completed")))
    assert project.run("--all-open", env=env).returncode == 0
    assert project.query("select check_key, address from konnectnxt.entries order by 1") == before
    history = project.query("select check_key, status from konnectnxt.check_status_history order by observed_at, 1")
    assert history[2:] == [("address#2", "completed")]
