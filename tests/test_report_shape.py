"""What a report must hold to be applied: the reasons a changed shape is refused, and what still passes."""

import copy

import pytest

from konnectnxt.report_shape import MAX_REASONS, shape_error, shape_problems


@pytest.fixture
def data(documented_report):
    return copy.deepcopy(documented_report["data"])


def test_the_documented_sample_can_be_applied(data):
    assert shape_problems(data) == []


def test_an_explicit_empty_checks_list_is_a_real_answer(data):
    data["checks"] = []
    assert shape_problems(data) == []


def test_keys_nobody_documented_are_fine(data):
    data["sla_days"] = 12
    data["checks"][0]["vendor_ref"] = {"id": 7}
    data["checks"][1]["entries"] = [{"anything": ["goes"]}]
    assert shape_problems(data) == []


def test_a_check_not_finished_may_have_a_null_result(data):
    data["checks"][0].update(status="in_progress", result=None)
    assert shape_problems(data) == []


@pytest.mark.parametrize("checks", [None, {}, "criminal,identity_aadhaar", 2])
def test_checks_that_are_not_a_list_are_refused(data, checks):
    data["checks"] = checks
    assert shape_problems(data) == ['report shape changed: no "checks" list']


def test_missing_or_renamed_checks_are_refused(data):
    data["check_list"] = data.pop("checks")
    assert shape_problems(data) == ['report shape changed: no "checks" list']


def test_empty_data_is_refused_for_each_thing_it_lacks():
    assert shape_problems({}) == ['report shape changed: no "status"', 'report shape changed: no "checks" list']


@pytest.mark.parametrize("data", [None, [], "completed"])
def test_data_that_is_not_an_object_is_refused(data):
    assert shape_problems(data) == ['report shape changed: "data" is not an object']


def test_a_report_without_status_is_refused(data):
    del data["status"]
    assert shape_problems(data) == ['report shape changed: no "status"']


@pytest.mark.parametrize("status", [None, "", "  ", 3, {"value": "completed"}])
def test_a_status_that_is_not_text_is_refused(data, status):
    data["status"] = status
    assert shape_problems(data) == ['report shape changed: "status" is not text']


def test_a_check_whose_type_was_renamed_is_refused(data):
    data["checks"][1]["check_type"] = data["checks"][1].pop("type")
    assert shape_problems(data) == ['report shape changed: check 2 has no "type"']


def test_a_check_without_status_or_result_is_refused(data):
    del data["checks"][0]["status"]
    del data["checks"][1]["result"]
    assert shape_problems(data) == [
        'report shape changed: check 1 has no "status"',
        'report shape changed: check 2 has no "result"',
    ]


def test_a_check_whose_values_are_not_text_is_refused(data):
    data["checks"][0]["type"] = None
    data["checks"][1]["result"] = ["clear"]
    assert shape_problems(data) == [
        'report shape changed: check 1 "type" is not text',
        'report shape changed: check 2 "result" is not text or null',
    ]


@pytest.mark.parametrize("check", ["criminal", None, ["criminal"]])
def test_a_check_that_is_not_an_object_is_refused(data, check):
    data["checks"].append(check)
    assert shape_problems(data) == ["report shape changed: check 3 is not an object"]


def test_only_the_first_few_reasons_are_given(data):
    del data["status"]
    data["checks"] = [{"name": "x"} for _ in range(10)]
    problems = shape_problems(data)
    assert len(problems) == MAX_REASONS
    assert (
        problems
        == [
            'report shape changed: no "status"',
            'report shape changed: check 1 has no "type"',
            'report shape changed: check 1 has no "status"',
        ][:MAX_REASONS]
    )


def test_the_kept_out_reason_is_one_line_naming_every_problem_found(data):
    assert shape_error(data) is None
    assert shape_error({}) == 'report shape changed: no "status"; no "checks" list'
