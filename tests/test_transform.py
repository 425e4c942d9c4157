"""The report-to-rows transform, called directly: no dlt, no HTTP."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from konnectnxt.check_identity import report_fingerprint
from konnectnxt.transform import CaseTimes, check_keys, parse_completed_at, report_rows

IST = ZoneInfo("Asia/Kolkata")
FETCHED_AT = datetime(2026, 6, 15, 10, 31, tzinfo=UTC)
CASE_ID = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"


FETCHED_NOW = CaseTimes(FETCHED_AT, FETCHED_AT)


def rows_of(data: dict, times: CaseTimes = FETCHED_NOW):
    return report_rows(CASE_ID, data, times=times, report_timezone=IST)


def test_documented_sample_becomes_one_case_row(documented_report):
    rows = rows_of(documented_report["data"])
    assert rows.case == {
        "case_id": CASE_ID,
        "reference_id": "2605310236148021",
        "status": "completed",
        "result": "clear",
        "candidate_name": "Vivek Patel",
        "candidate_photo": "https://storage.googleapis.com/konnectnxt/profile_pictures/abc.png",
        "summary_total": 2,
        "summary_clear": 2,
        "summary_minor_discrepancy": 0,
        "summary_discrepancy": 0,
        "summary_unable_to_verify": 0,
        "summary_not_available": 0,
        "summary_pending": 0,
        "generated_at": datetime(2026, 6, 15, 10, 30, 0, 123456, tzinfo=UTC),
        "first_seen_at": FETCHED_AT,
        "last_fetched_at": FETCHED_AT,
        "first_completed_at": None,
        "last_completed_at": None,
    }


def test_documented_sample_checks_fields_and_documents(documented_report):
    rows = rows_of(documented_report["data"])
    completed = datetime(2026, 5, 13, 5, 32, tzinfo=UTC)  # 11:02 IST
    assert rows["checks"] == [
        {
            "case_id": CASE_ID,
            "check_key": "criminal",
            "check_type": "criminal",
            "check_name": "Criminal Record Check",
            "category": "Criminal & Compliance",
            "status": "completed",
            "result": "clear",
            "completed_at": completed,
            "completed_at_raw": "13 May, 2026, 11:02",
            "remark": None,
        },
        {
            "case_id": CASE_ID,
            "check_key": "identity_aadhaar",
            "check_type": "identity_aadhaar",
            "check_name": "Aadhaar Verification",
            "category": "Identity",
            "status": "completed",
            "result": "clear",
            "completed_at": completed,
            "completed_at_raw": "13 May, 2026, 11:02",
            "remark": None,
        },
    ]
    assert rows["check_documents"] == [
        {
            "case_id": CASE_ID,
            "check_key": "criminal",
            "document_index": 0,
            "url": "https://storage.googleapis.com/konnectnxt/criminal/page_1.png",
        }
    ]
    assert [(f["check_key"], f["field_index"], f["label"], f["value"]) for f in rows["check_fields"]] == [
        ("identity_aadhaar", 0, "Name", "Nallala Vivek"),
        ("identity_aadhaar", 1, "Date of Birth", "08-01-2001"),
        ("identity_aadhaar", 2, "Gender", "Male"),
        ("identity_aadhaar", 3, "Aadhaar Number", "xxxxxxxx8300"),
    ]
    assert rows["entries"] == []
    assert rows.unparsed_completed_at == 0


def test_the_case_row_carries_our_own_times_as_given(documented_report):
    earlier, completed = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 14, tzinfo=UTC)
    case = rows_of(documented_report["data"], CaseTimes(earlier, FETCHED_AT, completed, completed)).case
    assert (case["first_seen_at"], case["last_fetched_at"]) == (earlier, FETCHED_AT)
    assert (case["first_completed_at"], case["last_completed_at"]) == (completed, completed)


def test_repeated_check_types_get_numbered_keys_in_document_order():
    checks = [{"type": "employment"}, {"type": "criminal"}, {"type": "employment"}, {"type": "employment"}, {}]
    assert check_keys(checks) == ["employment", "criminal", "employment#2", "employment#3", "unknown"]


def test_entries_keep_their_own_keys_and_prefix_clashing_ones():
    data = {
        "status": "in_progress",
        "checks": [
            {
                "type": "employment",
                "entries": [
                    {"employer": "Infosys", "status": "completed", "case_id": "vendor-1", "entry_index": 7},
                    {"employer": "Wipro", "documents": ["a.png", "b.png"], "period": {"from": "2019"}},
                    "just a string",
                ],
            }
        ],
    }
    rows = rows_of(data)
    assert rows["entries"] == [
        {
            "case_id": CASE_ID,
            "check_key": "employment",
            "entry_index": 0,
            "employer": "Infosys",
            "status": "completed",
            "entry_case_id": "vendor-1",
            "entry_entry_index": 7,
        },
        {
            "case_id": CASE_ID,
            "check_key": "employment",
            "entry_index": 1,
            "employer": "Wipro",
            "documents": ["a.png", "b.png"],
            "period": {"from": "2019"},
        },
        {"case_id": CASE_ID, "check_key": "employment", "entry_index": 2, "value": "just a string"},
    ]


def test_unknown_keys_are_kept_as_columns_never_dropped():
    data = {
        "status": "on_hold",
        "priority": "high",
        "candidate": {"name": "Zoë", "photo": None, "email": "z@example.com"},
        "summary": {"total": 1, "escalated": 1},
        "checks": [{"type": "drug_test", "vendor_ref": "DT-9", "check_key": "theirs", "sla_days": 5}],
    }
    rows = rows_of(data)
    assert rows.case["priority"] == "high"
    assert rows.case["candidate_email"] == "z@example.com"
    assert rows.case["summary_escalated"] == 1
    assert rows.case["status"] == "on_hold"
    check = rows["checks"][0]
    assert (check["vendor_ref"], check["sla_days"], check["check_check_key"]) == ("DT-9", 5, "theirs")
    assert check["check_key"] == "drug_test"


def test_nulls_where_lists_are_expected_give_no_rows():
    data = {"status": "in_progress", "candidate": None, "summary": None, "checks": None}
    rows = rows_of(data)
    assert rows["checks"] == [] and rows.case["candidate_name"] is None
    rows = rows_of({"checks": [{"type": "address", "entries": None, "fields": None, "documents": None}]})
    assert len(rows["checks"]) == 1 and rows["entries"] == rows["check_fields"] == rows["check_documents"] == []


def test_unknown_completed_at_format_keeps_raw_text_and_is_counted():
    rows = rows_of({"checks": [{"type": "criminal", "completed_at": "sometime next week"}]})
    assert rows["checks"][0]["completed_at"] is None
    assert rows["checks"][0]["completed_at_raw"] == "sometime next week"
    assert rows.unparsed_completed_at == 1


@pytest.mark.parametrize(
    ("text", "expected_utc"),
    [
        ("13 May, 2026, 11:02", datetime(2026, 5, 13, 5, 32, tzinfo=UTC)),
        ("3 Jan, 2026, 00:15", datetime(2026, 1, 2, 18, 45, tzinfo=UTC)),
        ("03 Sep, 2026, 23:59", datetime(2026, 9, 3, 18, 29, tzinfo=UTC)),
        ("13 September, 2026, 11:02", datetime(2026, 9, 13, 5, 32, tzinfo=UTC)),
        ("13 Sept, 2026, 11:02", datetime(2026, 9, 13, 5, 32, tzinfo=UTC)),
        ("13 SEPT 2026 11:02", datetime(2026, 9, 13, 5, 32, tzinfo=UTC)),
        ("13 May 2026, 11:02", datetime(2026, 5, 13, 5, 32, tzinfo=UTC)),
        ("  13 May, 2026, 11:02:30 ", datetime(2026, 5, 13, 5, 32, 30, tzinfo=UTC)),
        ("16/02/2026 10:16:39", datetime(2026, 2, 16, 4, 46, 39, tzinfo=UTC)),
        ("2024-06-04T10:30:00Z", datetime(2024, 6, 4, 10, 30, tzinfo=UTC)),
        ("2026-05-13T11:02:00", datetime(2026, 5, 13, 5, 32, tzinfo=UTC)),
    ],
)
def test_completed_at_texts_are_read_in_the_report_timezone(text, expected_utc):
    assert parse_completed_at(text, IST) == expected_utc


@pytest.mark.parametrize(
    "text", [None, "", "   ", "31 Feb, 2026, 10:00", "13 Mai, 2026, 11:02", "yesterday", 1715580120]
)
def test_completed_at_that_cannot_be_read_is_none(text):
    assert parse_completed_at(text, IST) is None


def test_completed_at_follows_the_configured_timezone():
    assert parse_completed_at("13 May, 2026, 11:02", ZoneInfo("UTC")) == datetime(2026, 5, 13, 11, 2, tzinfo=UTC)


def test_fingerprint_ignores_generated_at_only(documented_report):
    data = documented_report["data"]
    later = {**data, "generated_at": "2026-06-16T00:00:00.000001+00:00"}
    assert report_fingerprint(later) == report_fingerprint(data)
    progressed = {**data, "status": "in_audit"}
    assert report_fingerprint(progressed) != report_fingerprint(data)
