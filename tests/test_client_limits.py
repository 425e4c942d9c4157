"""The client's limits over real HTTP: time per request, size per answer, a dead API, error names, the proxy."""

import shutil
import socket
import ssl
import subprocess
import time
import tracemalloc

import pytest

from conftest import TEST_API_KEY, bgv_lines
from konnectnxt.client import KonnectNxtClient
from konnectnxt.demo.sandbox import Fault, Sandbox
from konnectnxt.fetching import fetch_reports

CASE = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"
REPORT = {"status": "in_progress", "result": "pending", "checks": []}
MIB = 1024 * 1024


def client_for(base_url: str, **overrides) -> KonnectNxtClient:
    options = {
        "timeout": 1.0,
        "max_attempts": 1,
        "max_retries_per_run": 200,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.1,
        "max_report_bytes": MIB,
    }
    options.update(overrides)
    return KonnectNxtClient(base_url, TEST_API_KEY, **options)


def host_of(sandbox: Sandbox) -> str:
    return f"127.0.0.1:{sandbox._server.server_address[1]}"


def timed_fetch(client: KonnectNxtClient, case_id: str = CASE):
    started = time.monotonic()
    outcome = client.fetch_report(case_id)
    return outcome, time.monotonic() - started


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, seconds: float = 3.0):
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return value


@pytest.mark.parametrize("seconds_per_byte", [0.1, 0.8])
def test_a_server_that_trickles_is_cut_off_at_request_timeout(sandbox, seconds_per_byte):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("trickle", CASE, times=None, delay=seconds_per_byte))
    outcome, took = timed_fetch(client_for(sandbox.base_url, timeout=1.0))
    assert not outcome.ok
    assert outcome.error == f"{host_of(sandbox)}: no complete answer within 1 s"
    # 0.8: the cut comes at the deadline, not at the next byte after it (1.6 s)
    assert 1.0 <= took < 1.4


def test_a_request_cut_off_at_the_timeout_is_retried(sandbox):
    sandbox.add_case(CASE, REPORT)
    sandbox.add_fault(Fault("trickle", CASE, times=1, delay=0.3))
    outcome, _ = timed_fetch(client_for(sandbox.base_url, timeout=0.5, max_attempts=2))
    assert outcome.ok and outcome.attempts == 2


def test_a_server_that_accepts_and_never_answers_is_cut_off_at_request_timeout(sandbox):
    sandbox.add_fault(Fault("hang", CASE, times=None, delay=3))
    outcome, took = timed_fetch(client_for(sandbox.base_url, timeout=0.5, max_attempts=2))
    assert (outcome.ok, outcome.attempts, outcome.http_status) == (False, 2, None)
    assert outcome.error == f"{host_of(sandbox)}: no complete answer within 0.5 s"
    assert took < 1.5


def test_an_answer_over_max_report_bytes_by_content_length_is_refused_unread(sandbox):
    sandbox.add_fault(Fault("huge", CASE, times=None, size=64 * MIB))
    outcome, _ = timed_fetch(client_for(sandbox.base_url, max_attempts=3))
    assert (outcome.ok, outcome.attempts, outcome.http_status) == (False, 1, 200)
    assert outcome.error == f"answer of {64 * MIB} bytes is over max_report_bytes ({MIB}); not read"
    record = sandbox.requests[0]
    assert wait_until(lambda: record.body_bytes_written) < 16 * MIB  # the sandbox could not send it all


def test_an_endless_answer_stops_at_max_report_bytes_with_memory_bounded(sandbox):
    sandbox.add_fault(Fault("endless", CASE, times=None))
    tracemalloc.start()
    try:
        outcome, took = timed_fetch(client_for(sandbox.base_url, max_attempts=3))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (outcome.ok, outcome.attempts, outcome.http_status) == (False, 1, 200)
    assert outcome.error.startswith(f"answer is over max_report_bytes ({MIB}): reading stopped after ")
    assert int(outcome.error.split("after ")[1].split()[0]) <= MIB + 64 * 1024
    assert peak < 8 * MIB and took < 2


def test_an_answer_of_exactly_max_report_bytes_is_read(sandbox):
    sandbox.add_fault(Fault("huge", CASE, size=MIB))
    outcome, _ = timed_fetch(client_for(sandbox.base_url))
    assert outcome.ok, outcome.error
    assert len(outcome.data["padding"]) > MIB - 200


def test_requests_without_answer_in_a_row_stop_the_client_and_say_why(sandbox):
    ids = [f"{i:032x}" for i in range(30)]
    sandbox.add_fault(Fault("hang", None, times=None, delay=2))
    client = client_for(sandbox.base_url, timeout=0.3, max_attempts=2, stop_after_no_answers=5)
    started = time.monotonic()
    outcomes = list(fetch_reports(client, ids, workers=2))
    assert time.monotonic() - started < 2
    assert client.stopped_answering == (
        f"{host_of(sandbox)}: no complete answer within 0.3 s (5 requests in a row without an answer)"
    )
    assert 5 <= len(sandbox.requests) <= 6  # the 5th failure, and one request still in flight
    never_sent = [o for o in outcomes if o.attempts == 0]
    assert len(outcomes) == 30 and len(never_sent) >= 25
    assert never_sent[0].error == f"not requested: the API stopped answering ({client.stopped_answering})"


def test_an_answer_in_between_breaks_the_run_of_requests_without_answer(sandbox):
    silent, answering, silent_too = [f"{i:032x}" for i in range(3)]
    sandbox.add_case(answering, REPORT)
    for case_id in (silent, silent_too):
        sandbox.add_fault(Fault("hang", case_id, times=None, delay=1))
    client = client_for(sandbox.base_url, timeout=0.2, max_attempts=4, stop_after_no_answers=5)
    outcomes = {o.case_id: o for o in fetch_reports(client, [silent, answering, silent_too], workers=1)}
    assert client.stopped_answering is None
    assert [outcomes[i].attempts for i in (silent, answering, silent_too)] == [4, 1, 4]
    assert client.unreachable is None
    assert (client.counters.answered, client.counters.transport_failures) == (1, 8)


def test_an_api_that_never_answered_is_unreachable_with_host_and_reason():
    port = closed_port()
    client = client_for(f"http://127.0.0.1:{port}/api", max_attempts=2, stop_after_no_answers=5)
    outcomes = list(fetch_reports(client, [f"{i:032x}" for i in range(10)], workers=2))
    assert client.unreachable == f"127.0.0.1:{port}: connection refused"
    assert client.counters.answered == 0 and client.counters.transport_failures == client.counters.requests >= 5
    assert client.stopped_answering.startswith(f"127.0.0.1:{port}: connection refused (")
    assert all(not o.ok for o in outcomes)


@pytest.fixture
def tls_sandbox(tmp_path, clock):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Sandbox(api_key=TEST_API_KEY, clock=clock).start(tls=context)
    yield server
    server.stop()


def test_a_failure_without_answer_names_the_host_and_the_reason(sandbox, tls_sandbox):
    sandbox.add_fault(Fault("reset", None, times=None))
    sandbox_host, port = host_of(sandbox), closed_port()
    expected = {
        f"http://127.0.0.1:{port}/api": f"127.0.0.1:{port}: connection refused",
        "https://bgv.nonexistent.invalid/api": "bgv.nonexistent.invalid: DNS lookup failed",
        sandbox.base_url: f"{sandbox_host}: connection reset",
        tls_sandbox.base_url: f"{host_of(tls_sandbox)}: TLS certificate error: self",  # self-signed / self signed
    }
    for base_url, error in expected.items():
        outcome, _ = timed_fetch(client_for(base_url))
        assert outcome.error.startswith(error), (base_url, outcome.error)
        assert "\n" not in outcome.error and TEST_API_KEY not in outcome.error
    assert tls_sandbox.requests == []  # the key never went to a server the client could not trust


def test_a_certificate_error_is_not_retried(tls_sandbox):
    outcome, _ = timed_fetch(client_for(tls_sandbox.base_url, max_attempts=4))
    assert (outcome.ok, outcome.attempts) == (False, 1)


def test_the_demo_reaches_its_local_sandbox_whatever_the_proxy_settings(project):
    dead_proxy = "http://127.0.0.1:9"
    env = {name: dead_proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")}
    result = project.run("--demo", env=env)
    assert result.returncode == 0, result.stderr  # exit 1 if any case failed


def test_a_run_whose_api_stops_answering_loads_what_came_records_the_run_and_exits_2(project, sandbox):
    case_ids = [f"{index:032x}" for index in range(1, 31)]
    answering = set(case_ids[:4])
    for case_id in case_ids:
        sandbox.add_case(case_id, REPORT)
        if case_id not in answering:
            sandbox.add_fault(Fault("hang", case_id, times=None, delay=3))
    listed = project.root / "ids.txt"
    listed.write_text("\n".join(case_ids), encoding="utf-8")
    limits = {
        "SOURCES__KONNECTNXT__REQUEST_TIMEOUT": "0.3",
        "SOURCES__KONNECTNXT__MAX_ATTEMPTS": "1",
        "SOURCES__KONNECTNXT__WORKERS": "1",
    }
    started = time.monotonic()
    result = project.run("--cases-file", str(listed), env=limits)

    assert result.returncode == 2, result.stderr[-2000:]
    final = bgv_lines(result.stderr)
    assert len(final) == 1 and final[0].startswith(f"bgv: the API stopped answering: {host_of(sandbox)}: "), final
    assert time.monotonic() - started < 30
    assert len({record.case_id for record in sandbox.requests}) < len(case_ids)  # it stopped requesting
    answered = {record.case_id for record in sandbox.requests if record.status == 200}
    loaded = {row[0] for row in project.query("select case_id from konnectnxt.cases")}
    assert loaded == answered and "bgv run" in result.stdout
    tracked = project.query("select count(*) from konnectnxt.tracked_cases")[0][0]
    assert tracked == len(case_ids)  # every id handed over is kept for the next run
    runs = project.query("select exit_code, error from konnectnxt.runs")
    assert len(runs) == 1 and runs[0][0] == 2 and "stopped answering" in runs[0][1]
