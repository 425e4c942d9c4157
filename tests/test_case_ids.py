"""Case-id inputs: canonical form, every file format, bad ids and unusable files."""

import json

import pytest

from konnectnxt.case_ids import CaseIdBatch, add_config_ids, add_file_ids, add_flag_ids, canonical_case_id
from konnectnxt.errors import CaseIdInputError, ConfigurationError

A = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
B = "6bc26096dfe54c44937b27063820dc28"
B_DASHED = "6bc26096-dfe5-4c44-937b-27063820dc28"
C = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (A, A),
        (A.upper(), A),
        (f"  {A}\t", A),
        (B_DASHED, B),
        (B_DASHED.upper(), B),
        (f" {B_DASHED}\r", B),
    ],
)
def test_ids_are_stored_as_32_lowercase_hex(given, canonical):
    assert canonical_case_id(given) == canonical


@pytest.mark.parametrize(
    "given",
    [
        "",
        "abc",
        A[:-1],
        A + "0",
        A.replace("a", "g"),
        "6bc26096-dfe5-4c44-937b27063820dc28",
        "6bc2-6096dfe54c44937b27063820dc28",
        None,
        123,
        {"case_id": A},
    ],
)
def test_malformed_ids_are_rejected(given):
    with pytest.raises(ValueError, match="not a case id"):
        canonical_case_id(given)


def batch_from_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    batch = CaseIdBatch()
    add_file_ids(batch, str(path))
    return batch


def submit_response(*ids):
    return json.dumps(
        {
            "success": True,
            "message": "Candidates submitted.",
            "data": {
                "recruiter_id": 42,
                "organization": "Acme",
                "candidates_processed": len(ids),
                "total_cost": 1200,
                "cases_created": [
                    {"candidate_id": case_id, "case_id": case_id, "name": "N", "email": "n@example.com"}
                    for case_id in ids
                ],
            },
        }
    )


def test_saved_bulk_submit_response_gives_every_case_id(tmp_path):
    batch = batch_from_file(tmp_path, "submit_response.json", submit_response(A, B_DASHED, A))
    assert batch.case_ids == [A, B]
    assert batch.sources == {A: "submit_response.json", B: "submit_response.json"}
    assert batch.problems == []


def test_json_list_of_ids(tmp_path):
    assert batch_from_file(tmp_path, "ids.json", json.dumps([A, B.upper(), A])).case_ids == [A, B]


def test_csv_with_case_id_column_in_any_position(tmp_path):
    content = f"name,Case_ID ,email\r\nAsha,{A},a@x.in\r\n\r\nRavi,{B_DASHED},r@x.in\r\nDup,{A},d@x.in\r\n"
    batch = batch_from_file(tmp_path, "cases.csv", content)
    assert batch.case_ids == [A, B] and batch.problems == []


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_exports_with_other_delimiters(tmp_path, delimiter):
    content = delimiter.join(["name", "case_id", "email"]) + "\n" + delimiter.join(["Asha", B_DASHED, "a@x.in"]) + "\n"
    assert batch_from_file(tmp_path, "export.csv", content).case_ids == [B]


def test_text_file_with_comments_blank_lines_bom_and_crlf(tmp_path):
    content = f"\ufeff# exported 2026-11-01\r\n{A}\r\n\r\n  {B_DASHED}  # Ravi\r\n{A}\r\n".encode()
    batch = batch_from_file(tmp_path, "ids.txt", content)
    assert batch.case_ids == [A, B] and batch.problems == []


def test_bom_before_json_is_tolerated(tmp_path):
    batch = batch_from_file(tmp_path, "submit.json", "\ufeff" + submit_response(C))
    assert batch.case_ids == [C]


def test_invalid_lines_are_reported_with_file_and_line_and_skipped(tmp_path):
    batch = batch_from_file(tmp_path, "ids.txt", f"{A}\nnot-an-id\n\n{B}\n12345\n")
    assert batch.case_ids == [A, B]
    assert len(batch.problems) == 2
    assert batch.problems[0].startswith("ids.txt:2: 'not-an-id' is not a case id")
    assert batch.problems[1].startswith("ids.txt:5: ")


def test_invalid_csv_rows_name_their_line(tmp_path):
    batch = batch_from_file(tmp_path, "cases.csv", f"case_id,name\n{A},x\nzzz,y\n,z\n")
    assert batch.case_ids == [A]
    assert [p.split(":")[1] for p in batch.problems] == ["3", "4"]


def test_invalid_items_in_a_submit_response_name_their_position(tmp_path):
    document = json.loads(submit_response(A, "broken"))
    document["data"]["cases_created"].append({"name": "no id"})
    batch = batch_from_file(tmp_path, "submit.json", json.dumps(document))
    assert batch.case_ids == [A]
    assert [p.split(":")[1] for p in batch.problems] == ["data.cases_created[1]", "data.cases_created[2]"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "file is empty"),
        ("blank.txt", "  \r\n\n", "file is empty"),
        ("other.json", json.dumps({"success": True, "data": {"candidates": []}}), "not a bulk-submit response"),
        ("nocol.csv", "name,email\nAsha,a@x.in\n", "no case ids found"),
        ("junk.txt", "hello\nworld\n", "no case ids found"),
        ("comments.txt", "# only a comment\n", "no case ids found"),
        ("binary.bin", b"\xff\xfe\x00\x01garbage", "not UTF-8"),
    ],
)
def test_unusable_files_are_errors_naming_the_file(tmp_path, name, content, message):
    with pytest.raises(CaseIdInputError, match=message) as raised:
        batch_from_file(tmp_path, name, content)
    assert name in str(raised.value)


def test_missing_file_and_directory_are_errors(tmp_path):
    with pytest.raises(CaseIdInputError, match="file not found"):
        add_file_ids(CaseIdBatch(), str(tmp_path / "nope.json"))
    with pytest.raises(CaseIdInputError, match="is a directory"):
        add_file_ids(CaseIdBatch(), str(tmp_path))


def test_flag_ids_fold_with_file_ids_and_keep_the_first_source(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(submit_response(A, B))
    batch = CaseIdBatch()
    add_flag_ids(batch, [B_DASHED])
    add_file_ids(batch, str(path))
    assert batch.sources == {B: "--case-id", A: "s.json"}


def test_bad_flag_id_is_a_usage_error():
    with pytest.raises(CaseIdInputError, match="--case-id: 'xyz' is not a case id"):
        add_flag_ids(CaseIdBatch(), [A, "xyz"])


def test_bad_config_id_is_a_configuration_error():
    batch = CaseIdBatch()
    with pytest.raises(ConfigurationError, match=r"\[sources.konnectnxt\] case_ids"):
        add_config_ids(batch, [A, 42])
