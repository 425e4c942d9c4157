"""A check keeps its key when the vendor reorders the list; a reorder alone is not a change."""

import copy
from datetime import UTC, datetime

from konnectnxt.check_identity import assign_check_keys, checks_from_rows, report_fingerprint
from konnectnxt.pii import protect_rows
from konnectnxt.transform import CaseTimes, check_keys, report_rows

CASE_ID = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
AT = datetime(2026, 6, 15, 10, 31, tzinfo=UTC)


def employment(employer, name="Employment Verification", status="in_progress", result="pending"):
    entry = {"employer": employer, "designation": "Software Engineer", "status": status, "result": result}
    return {"type": "employment", "name": name, "status": status, "result": result, "entries": [entry]}


def address(street, city):
    entry = {"address": street, "city": city, "address_type": "current", "status": "completed", "result": "clear"}
    return {
        "type": "address",
        "name": "Address Verification",
        "status": "completed",
        "result": "clear",
        "entries": [entry],
    }


def criminal():
    return {"type": "criminal", "name": "Criminal Record Check", "status": "completed", "result": "clear"}


def stored(checks):
    """The (key, check) pairs a first report was stored under."""
    return list(zip(assign_check_keys([], checks), checks))


def test_without_a_stored_report_keys_are_the_positional_keys_of_earlier_versions():
    checks = [employment("Infosys"), criminal(), employment("TCS"), {"status": "x"}, "odd", employment("Wipro")]
    assert assign_check_keys([], checks) == check_keys(checks)
    assert assign_check_keys([], checks) == [
        "employment",
        "criminal",
        "employment#2",
        "unknown",
        "unknown#2",
        "employment#3",
    ]


def test_two_checks_of_a_type_swapping_places_keep_their_keys_by_name():
    first, second = employment("Infosys", name="Employment - Infosys"), employment("TCS", name="Employment - TCS")
    previous = stored([first, second])
    assert assign_check_keys(previous, [second, first]) == ["employment#2", "employment"]


def test_checks_with_the_same_name_swapping_places_keep_their_keys_by_employer():
    infosys, tcs = employment("Infosys Ltd"), employment("Tata Consultancy Services")
    previous = stored([infosys, tcs])
    assert assign_check_keys(previous, [tcs, infosys]) == ["employment#2", "employment"]


def test_addresses_swapping_places_keep_their_keys_by_what_they_hold():
    home, office = address("12, MG Road", "Bengaluru"), address("4, Park Street", "Kolkata")
    previous = stored([criminal(), home, office])
    assert assign_check_keys(previous, [office, criminal(), home]) == ["address#2", "criminal", "address"]


def test_a_check_still_matches_when_its_entries_fill_in_and_its_values_change_case():
    infosys, tcs = employment("Infosys Ltd"), employment("TCS")
    previous = stored([infosys, tcs])
    tcs_done = employment("  tcs ", status="completed", result="clear")
    tcs_done["entries"][0]["verifier"] = {"name": "Ritu Malhotra", "designation": "HR Manager"}
    assert assign_check_keys(previous, [tcs_done, infosys]) == ["employment#2", "employment"]


def test_a_check_inserted_first_takes_the_next_free_key_and_the_stored_check_keeps_its_own():
    completed = employment("Infosys", status="completed", result="clear")
    previous = stored([completed])
    newcomer = employment("Wipro")
    assert assign_check_keys(previous, [newcomer, completed]) == ["employment#2", "employment"]


def test_a_reorder_with_one_status_change_shows_the_change_on_the_check_that_changed():
    infosys, tcs = employment("Infosys"), employment("TCS")
    previous = stored([infosys, tcs])
    current = [employment("TCS", status="completed", result="discrepancy"), infosys]
    keys = assign_check_keys(previous, current)
    before = {key: (check["status"], check["result"]) for key, check in previous}
    after = {key: (check["status"], check["result"]) for key, check in zip(keys, current)}
    assert keys == ["employment#2", "employment"]
    assert {key for key in after if after[key] != before[key]} == {"employment#2"}


def test_checks_of_different_types_reordered_keep_their_keys():
    checks = [criminal(), employment("Infosys"), address("12, MG Road", "Pune")]
    previous = stored(checks)
    assert assign_check_keys(previous, [checks[2], checks[0], checks[1]]) == ["address", "criminal", "employment"]


def test_checks_without_a_type_are_unknown_and_keep_their_keys_by_what_they_hold():
    untyped = {
        "name": "Gap Check",
        "status": "completed",
        "result": "clear",
        "fields": [{"label": "Gap", "value": "2y"}],
    }
    previous = stored(["a bare string check", untyped, criminal()])
    assert [key for key, _ in previous] == ["unknown", "unknown#2", "criminal"]
    assert assign_check_keys(previous, [criminal(), untyped, "a bare string check"]) == [
        "criminal",
        "unknown#2",
        "unknown",
    ]


def test_identical_duplicate_checks_keep_their_keys_in_order():
    previous = stored([employment("Infosys"), employment("Infosys")])
    current = [employment("Infosys", status="completed", result="clear"), employment("Infosys")]
    assert assign_check_keys(previous, current) == ["employment", "employment#2"]


def test_checks_holding_nothing_alike_are_paired_in_order():
    previous = stored([employment("Infosys")])
    assert assign_check_keys(previous, [employment("Wipro")]) == ["employment"]


def test_a_removed_check_takes_its_key_away_and_the_others_keep_theirs():
    infosys, tcs, wipro = employment("Infosys"), employment("TCS"), employment("Wipro")
    previous = stored([infosys, tcs, wipro])
    assert assign_check_keys(previous, [wipro, infosys]) == ["employment#3", "employment"]


def test_a_key_freed_in_an_earlier_report_may_go_to_a_later_newcomer():
    infosys, wipro = employment("Infosys"), employment("Wipro")
    after_removal = [("employment", infosys), ("employment#3", wipro)]
    assert assign_check_keys(after_removal, [infosys, wipro, employment("Zomato")]) == [
        "employment",
        "employment#3",
        "employment#2",
    ]


def test_more_than_two_of_a_type_shuffled_keep_their_keys_and_a_newcomer_takes_the_next_number():
    employers = ["Infosys", "TCS", "Wipro", "Zomato"]
    checks = [employment(employer) for employer in employers]
    previous = stored(checks)
    current = [checks[3], employment("Flipkart"), checks[1], checks[0], checks[2]]
    assert assign_check_keys(previous, current) == [
        "employment#4",
        "employment#5",
        "employment#2",
        "employment",
        "employment#3",
    ]


def test_keys_stay_unique_when_a_type_looks_like_a_numbered_key():
    checks = [{"type": "a#2"}, {"type": "a"}, {"type": "a"}]
    keys = assign_check_keys([], checks)
    assert keys == ["a#2", "a", "a#3"]


def rows(checks, pii="keep"):
    tables = report_rows(
        CASE_ID, {"status": "in_progress", "checks": checks}, times=CaseTimes(AT, AT), report_timezone=UTC
    ).tables
    protect_rows(tables, pii, "salt")
    return tables


def test_stored_rows_rebuilt_as_checks_match_like_the_report_did():
    infosys, tcs = employment("Infosys"), employment("TCS")
    previous = checks_from_rows(rows([infosys, tcs, criminal()]))
    assert [key for key, _ in previous] == ["criminal", "employment", "employment#2"]
    assert assign_check_keys(previous, [tcs, criminal(), infosys]) == ["employment#2", "criminal", "employment"]


def test_with_hashed_personal_data_both_sides_rebuilt_from_protected_rows_still_match():
    infosys, tcs = employment("Infosys"), employment("TCS")
    previous = checks_from_rows(rows([infosys, tcs], pii="hash"))
    current = [check for _, check in checks_from_rows(rows([tcs, infosys], pii="hash"))]
    assert current[0]["entries"][0]["employer"] not in ("TCS", "Infosys")
    assert assign_check_keys(previous, current) == ["employment#2", "employment"]


def test_rows_as_the_warehouse_returns_them_are_read_back_in_the_vendor_shape():
    tables = {
        "checks": [
            {"case_id": CASE_ID, "check_key": "employment", "check_type": "employment", "check_name": "Emp"},
            {"case_id": CASE_ID, "check_key": "employment#2", "check_type": "employment", "_dlt_id": "x"},
        ],
        "entries": [
            {"case_id": CASE_ID, "check_key": "employment", "entry_index": 1, "employer": "TCS"},
            {"case_id": CASE_ID, "check_key": "employment", "entry_index": 0, "verifier__name": "S. Kumar"},
            {"case_id": CASE_ID, "check_key": "employment", "entry_index": 2, "entry_check_key": "own"},
        ],
        "check_fields": [
            {"case_id": CASE_ID, "check_key": "employment#2", "field_index": 0, "label": "L", "value": "v"}
        ],
    }
    (first_key, first), (second_key, second) = checks_from_rows(tables)
    assert (first_key, second_key) == ("employment", "employment#2")
    assert first["entries"] == [{"verifier": {"name": "S. Kumar"}}, {"employer": "TCS"}, {"check_key": "own"}]
    assert first["name"] == "Emp" and "_dlt_id" not in second
    assert second["fields"] == [{"label": "L", "value": "v"}]


def report(checks):
    return {"status": "in_progress", "generated_at": "2026-06-15T10:30:00+00:00", "checks": checks}


def full_check():
    check = employment("Infosys")
    check["entries"].append({"employer": "TCS", "flags": ["late", "gap"]})
    check["fields"] = [{"label": "Name", "value": "Asha"}, {"label": "DOB", "value": "08-01-2001"}]
    check["documents"] = ["https://x/page_1.png", "https://x/page_2.png"]
    return check


def reversed_lists(check):
    reordered = copy.deepcopy(check)
    for key in ("entries", "fields", "documents"):
        reordered[key].reverse()
    return reordered


def test_a_report_differing_only_in_the_order_of_checks_entries_fields_or_documents_is_not_a_change():
    data = report([full_check(), criminal(), address("12, MG Road", "Pune")])
    reordered = report([address("12, MG Road", "Pune"), reversed_lists(full_check()), criminal()])
    reordered["generated_at"] = "2026-06-16T09:00:00+00:00"
    assert report_fingerprint(reordered) == report_fingerprint(data)


def test_a_real_change_gives_a_different_fingerprint():
    data = report([full_check(), criminal()])
    progressed = report([full_check(), {**criminal(), "result": "discrepancy"}])
    entry_changed = report([full_check(), criminal()])
    entry_changed["checks"][0]["entries"][1]["employer"] = "Wipro"
    assert report_fingerprint(progressed) != report_fingerprint(data)
    assert report_fingerprint(entry_changed) != report_fingerprint(data)


def test_the_order_of_lists_inside_an_entry_still_counts():
    data = report([full_check()])
    flags_reordered = report([full_check()])
    flags_reordered["checks"][0]["entries"][1]["flags"].reverse()
    assert report_fingerprint(flags_reordered) != report_fingerprint(data)


def test_an_entry_moving_to_another_check_is_a_change():
    one, two = employment("Infosys"), employment("TCS")
    moved_one, moved_two = employment("Infosys"), employment("TCS")
    moved_one["entries"].append(moved_two["entries"].pop())
    assert report_fingerprint(report([moved_one, moved_two])) != report_fingerprint(report([one, two]))


def test_the_documented_sample_keeps_its_fingerprint_when_its_checks_swap(documented_report):
    data = documented_report["data"]
    swapped = {**data, "checks": list(reversed(data["checks"]))}
    assert report_fingerprint(swapped) == report_fingerprint(data)
