"""The API client against the sandbox over real HTTP: retries, budgets, auth, concurrency."""

import time
from email.utils import formatdate

import pytest
import requests

from conftest import TEST_API_KEY
from konnectnxt.client import KonnectNxtClient, fetch_reports
from konnectnxt.demo.sandbox import Fault
from konnectnxt.errors import AuthenticationFailed

CASE = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
REPORT = {"status": "in_progress", "result": "pending", "checks": []}


def client_for(sandbox, api_key=TEST_API_KEY, **overrides) -> KonnectNxtClient:
    options = {
        "timeout": 5.0,
        "max_attempts": 4,
        "max_retries_per_run": 200,
        "retry_base_delay": 0.01,
        "retry_max_delay": 2.0,
    }
    options.update(overrides)
    return KonnectNxtClient(sandbox.base_url, api_key, **options)


def statuses(sandbox, case_id=CASE):
    return [r.status for r in sandbox.requests_for(case_id)]


def test_report_data_is_returned_from_the_envelope(sandbox):
    sandbox.add_case(CASE, REPORT)
    outcome = client_for(sandbox).fetch_report(CASE)
    assert outcome.ok and outcome.data == REPORT and outcome.attempts == 1


@pytest.mark.parametrize("retry_after", ["1", None])
def test_429_is_retried_after_retry_after_seconds(sandbox, retry_after):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("status", CASE, times=1, status=429, retry_after=retry_after, message="Too many requests"))
    started = time.monotonic()
    outcome = client_for(sandbox).fetch_report(CASE)
    waited = time.monotonic() - started
    assert outcome.ok and outcome.attempts == 2
    assert statuses(sandbox) == [429, 200]
    assert waited >= 0.9 if retry_after else waited < 0.9


def test_retry_after_as_http_date_is_obeyed(sandbox):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("status", CASE, status=503, retry_after=formatdate(time.time() + 2, usegmt=True)))
    started = time.monotonic()
    assert client_for(sandbox).fetch_report(CASE).ok
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", CASE, status=500),
        Fault("status", CASE, status=502),
        Fault("status", CASE, status=504),
        Fault("html", CASE, status=502),
        Fault("truncated", CASE),
        Fault("not_json", CASE),
        Fault("reset", CASE),
        Fault("envelope_error", CASE, status=503, message="Upstream busy"),
        Fault("slow", CASE, delay=1.5),
    ],
    ids=lambda f: f"{f.kind}-{f.status}",
)
def test_transient_faults_are_retried(sandbox, fault):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(fault)
    outcome = client_for(sandbox, timeout=1.0).fetch_report(CASE)
    assert outcome.ok, outcome.error
    assert outcome.attempts == 2


def test_persistent_failure_stops_after_max_attempts(sandbox):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("status", CASE, times=None, status=503, message="Service unavailable"))
    outcome = client_for(sandbox, max_attempts=3).fetch_report(CASE)
    assert not outcome.ok
    assert (outcome.http_status, outcome.attempts) == (503, 3)
    assert outcome.error == "HTTP 503: Service unavailable"
    assert statuses(sandbox) == [503, 503, 503]


def test_retry_budget_per_run_is_shared_by_all_requests(sandbox):
    sandbox.add_fault(Fault("status", None, times=None, status=500))
    client = client_for(sandbox, max_attempts=10, max_retries_per_run=5)
    outcomes = [client.fetch_report(f"{i:032x}") for i in range(4)]
    assert sum(o.attempts for o in outcomes) == 4 + 5
    assert client.counters.retries == 5 and client.counters.requests == 9


def test_404_is_not_retried(sandbox):
    outcome = client_for(sandbox).fetch_report(CASE)
    assert (outcome.ok, outcome.http_status, outcome.attempts) == (False, 404, 1)
    assert outcome.error == "HTTP 404: Case not found."


def test_envelope_error_with_a_client_code_is_a_failure_without_retry(sandbox):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("envelope_error", CASE, status=400, message="Invalid case"))
    outcome = client_for(sandbox).fetch_report(CASE)
    assert (outcome.ok, outcome.http_status, outcome.attempts) == (False, 400, 1)
    assert "Invalid case" in outcome.error


def test_401_is_an_authentication_failure(sandbox):
    sandbox.add_case(CASE, REPORT)
    with pytest.raises(AuthenticationFailed, match="authentication failed"):
        client_for(sandbox, api_key="wrong-key").fetch_report(CASE)


def test_bad_key_costs_exactly_one_request(sandbox):
    ids = [f"{i:032x}" for i in range(20)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    with pytest.raises(AuthenticationFailed):
        list(fetch_reports(client_for(sandbox, api_key="wrong-key"), ids, workers=8))
    assert len(sandbox.requests) == 1


def test_403_on_the_first_request_is_an_authentication_failure(sandbox):
    ids = [f"{i:032x}" for i in range(5)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.add_fault(Fault("status", None, times=1, status=403, message="Forbidden"))
    with pytest.raises(AuthenticationFailed, match="403"):
        list(fetch_reports(client_for(sandbox), ids, workers=4))
    assert len(sandbox.requests) == 1


def test_403_after_the_first_request_fails_only_that_case(sandbox):
    ids = [f"{i:032x}" for i in range(5)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.add_fault(Fault("status", ids[3], status=403, message="Not your case"))
    outcomes = {o.case_id: o for o in fetch_reports(client_for(sandbox), ids, workers=2)}
    assert [outcomes[i].ok for i in ids] == [True, True, True, False, True]
    assert outcomes[ids[3]].http_status == 403


def test_key_revoked_mid_run_stops_all_further_requests(sandbox):
    ids = [f"{i:032x}" for i in range(60)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.latency = 0.02
    fetched = []
    with pytest.raises(AuthenticationFailed):
        for outcome in fetch_reports(client_for(sandbox), ids, workers=3):
            fetched.append(outcome)
            if len(fetched) == 10:
                sandbox.api_keys.clear()
    requests_at_stop = len(sandbox.requests)
    time.sleep(0.2)
    assert len(sandbox.requests) == requests_at_stop < 20


def test_requests_in_flight_never_exceed_workers(sandbox):
    ids = [f"{i:032x}" for i in range(40)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.latency = 0.05
    outcomes = list(fetch_reports(client_for(sandbox), ids, workers=5))
    assert len(outcomes) == 40 and all(o.ok for o in outcomes)
    assert sandbox.max_in_flight == 5
    assert sorted(r.case_id for r in sandbox.requests) == sorted(ids)


def test_max_requests_per_second_is_respected(sandbox):
    ids = [f"{i:032x}" for i in range(11)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    started = time.monotonic()
    list(fetch_reports(client_for(sandbox, max_requests_per_second=20), ids, workers=5))
    assert time.monotonic() - started >= 0.45


def test_sandbox_redirects_when_the_trailing_slash_is_missing(sandbox):
    sandbox.add_case(CASE, REPORT)
    url = sandbox.base_url + "/recruiter/v2/report-json"
    response = requests.get(
        url,
        params={"case_id": CASE},
        allow_redirects=False,
        timeout=5,
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
    )
    assert response.status_code == 301
    assert response.headers["Location"].endswith(f"/recruiter/v2/report-json/?case_id={CASE}")


def test_sandbox_accepts_the_dashed_id_form(sandbox):
    sandbox.add_case(CASE, REPORT)
    dashed = f"{CASE[:8]}-{CASE[8:12]}-{CASE[12:16]}-{CASE[16:20]}-{CASE[20:]}"
    response = requests.get(
        sandbox.base_url + "/recruiter/v2/report-json/",
        params={"case_id": dashed},
        timeout=5,
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
    )
    body = response.json()
    assert (response.status_code, body["status"], body["code"], body["errors"]) == (200, "success", 200, None)
    assert body["message"] == "Report JSON fetched successfully."
