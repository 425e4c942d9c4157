"""The API client against the sandbox over real HTTP: retries, budgets, auth, proxies, redirects, concurrency."""

import time
from email.utils import formatdate

import pytest
import requests

from conftest import TEST_API_KEY
from konnectnxt.client import KonnectNxtClient
from konnectnxt.demo.sandbox import Fault
from konnectnxt.errors import AuthenticationFailed
from konnectnxt.fetching import fetch_reports

CASE = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
REPORT = {"status": "in_progress", "result": "pending", "checks": []}


CLIENT_OPTIONS = {
    "timeout": 5.0,
    "max_attempts": 4,
    "max_retries_per_run": 200,
    "retry_base_delay": 0.01,
    "retry_max_delay": 2.0,
    "max_report_bytes": 1024 * 1024,
}


def client_for(sandbox, api_key=TEST_API_KEY, **overrides) -> KonnectNxtClient:
    return KonnectNxtClient(sandbox.base_url, api_key, **{**CLIENT_OPTIONS, **overrides})


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


def test_stop_sending_lists_every_request_sent_while_the_fetch_waits_at_a_yield(sandbox):
    # An interrupted run lists what it requested (the vendor's 15 s holds for it) while the fetch is
    # suspended at a `yield` (dlt's extract works on a report): its queued requests must not go out
    # after the list is taken. The second case is slow, so one request is still queued then.
    ids = [f"{i:032x}" for i in range(8)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.latency = 0.2
    sandbox.add_fault(Fault("slow", case_id=ids[1], delay=1.5))
    client = client_for(sandbox)
    outcomes = fetch_reports(client, ids, workers=2)
    next(outcomes), next(outcomes)
    listed = client.stop_sending()
    time.sleep(2)
    outcomes.close()
    requested = {r.case_id for r in sandbox.requests}
    assert ids[3] in listed and len(requested) < len(ids)
    assert requested <= set(listed)


def test_requests_in_flight_never_exceed_workers(sandbox):
    ids = [f"{i:032x}" for i in range(40)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.latency = 0.05
    outcomes = list(fetch_reports(client_for(sandbox), ids, workers=5))
    assert len(outcomes) == 40 and all(o.ok for o in outcomes)
    assert sandbox.max_in_flight == 5
    assert sorted(r.case_id for r in sandbox.requests) == sorted(ids)


def test_max_requests_per_second_holds_in_every_sliding_second(sandbox):
    ids = [f"{i:032x}" for i in range(30)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    sandbox.latency = 0.02
    list(fetch_reports(client_for(sandbox, max_requests_per_second=10), ids, workers=5))
    arrivals = sorted(r.at for r in sandbox.requests)
    # 50 ms less than a second: what travel from the client to the sandbox may squeeze together
    busiest = max(sum(start <= at < start + 0.95 for at in arrivals) for start in arrivals)
    assert len(arrivals) == 30 and busiest == 10
    assert arrivals[-1] - arrivals[0] >= 1.9


def test_a_rate_below_one_per_second_spaces_requests_by_its_inverse(sandbox):
    ids = [f"{i:032x}" for i in range(2)]
    for case_id in ids:
        sandbox.add_case(case_id, REPORT)
    list(fetch_reports(client_for(sandbox, max_requests_per_second=0.8), ids, workers=2))
    first, second = sorted(r.at for r in sandbox.requests)
    assert 1.2 <= second - first < 1.45


@pytest.fixture
def netrc_home(tmp_path, monkeypatch):
    """A HOME whose ~/.netrc has a default entry, as requests would apply to any host without auth=."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login someone password netrc-password\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("NETRC", raising=False)
    return netrc


@pytest.fixture
def no_proxy_settings(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_the_bearer_key_is_sent_even_with_a_netrc_default_entry(sandbox, netrc_home, no_proxy_settings):
    sandbox.add_case(CASE, REPORT)
    assert client_for(sandbox).fetch_report(CASE).ok
    # Through a proxy the environment is honoured (trust_env), and ~/.netrc still must not replace the key.
    no_proxy_settings.setenv("HTTP_PROXY", f"http://{sandbox.base_url.split('/')[2]}")
    remote = KonnectNxtClient("http://bgv.example.test/api", TEST_API_KEY, **CLIENT_OPTIONS)
    assert remote.fetch_report(CASE).ok
    assert [r.authorized for r in sandbox.requests] == [True, True]


def test_a_loopback_api_is_reached_directly_whatever_the_proxy_settings(sandbox, no_proxy_settings):
    sandbox.add_case(CASE, REPORT)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        no_proxy_settings.setenv(name, "http://127.0.0.1:9")  # the discard port: a proxy that is not there
    assert client_for(sandbox).fetch_report(CASE).ok


def test_other_hosts_go_through_the_environments_proxy(sandbox, no_proxy_settings):
    sandbox.add_case(CASE, REPORT)
    no_proxy_settings.setenv("HTTP_PROXY", f"http://{sandbox.base_url.split('/')[2]}")
    outcome = KonnectNxtClient("http://bgv.example.test/api", TEST_API_KEY, **CLIENT_OPTIONS).fetch_report(CASE)
    assert outcome.ok, outcome.error
    assert sandbox.requests[0].path.startswith("http://bgv.example.test/api/recruiter/v2/report-json/?case_id=")


def test_a_redirect_on_the_same_host_is_followed_with_the_key(sandbox):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("redirect", CASE, status=301, location=f"/api/recruiter/v2/report-json/?case_id={CASE}"))
    outcome = client_for(sandbox).fetch_report(CASE)
    assert (outcome.ok, outcome.attempts) == (True, 1)
    assert [(r.status, r.authorized) for r in sandbox.requests] == [(301, True), (200, True)]


@pytest.mark.parametrize(
    "target",
    [
        "https://elsewhere.example/api/recruiter/v2/report-json/",
        "https://{host}/api/recruiter/v2/report-json/",
        "https://user:hunter2@elsewhere.example/api/recruiter/v2/report-json/",
    ],
)
def test_a_redirect_to_another_host_or_scheme_is_not_followed_and_says_where_it_pointed(sandbox, target):
    host = sandbox.base_url.split("/")[2]
    target = target.format(host=host)
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("redirect", CASE, status=302, location=f"{target}?case_id={CASE}"))
    outcome = client_for(sandbox).fetch_report(CASE)
    assert (outcome.ok, outcome.http_status, outcome.attempts) == (False, 302, 1)
    shown = target.replace("user:hunter2@", "")
    assert outcome.error == f"HTTP 302: redirect to {shown} not followed: the API key is sent only to {host}"
    assert len(sandbox.requests) == 1


def test_a_redirect_loop_ends_after_a_few_hops(sandbox):
    back_to_itself = f"/api/recruiter/v2/report-json/?case_id={CASE}"
    sandbox.add_fault(Fault("redirect", CASE, times=None, status=302, location=back_to_itself))
    outcome = client_for(sandbox).fetch_report(CASE)
    assert (outcome.ok, outcome.error) == (False, "HTTP 302: more than 3 redirects")
    assert len(sandbox.requests) == 4


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
