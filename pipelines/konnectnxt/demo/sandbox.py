"""A local KonnectNXT API sandbox: the documented envelope, auth, 404s, progressing cases, faults."""

import argparse
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from ..settings import REPORT_PATH
from .fake_reports import CaseTimeline, demo_case_ids, demo_timelines, timeline_for
from .faults import FAULT_KINDS, Fault, faulty_answer, write_all

API_PREFIX = "/api"
DEMO_API_KEY = "sandbox-demo-key"


@dataclass
class RequestRecord:
    """One request as the sandbox saw it; `at` is when it arrived, status 0 when it got no answer."""

    case_id: str | None
    status: int
    at: float
    path: str
    authorized: bool
    body_bytes_written: int = 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up or refuses the certificate is the client's business


CaseSource = CaseTimeline | dict[str, Any] | Callable[[float], dict[str, Any]]


class Sandbox:
    """The server plus its scripted world; tests change cases, faults and the clock between runs."""

    def __init__(self, api_key: str = DEMO_API_KEY, clock: Callable[[], float] = time.time) -> None:
        self.api_keys = {api_key}
        self.clock = clock
        self.latency = 0.0
        self.cases: dict[str, CaseSource] = {}
        self.faults: list[Fault] = []
        self.requests: list[RequestRecord] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._revoke_after: int | None = None
        self._answered = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._scheme = "http"

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host}:{port}{API_PREFIX}"

    def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> "Sandbox":
        """Serve on 127.0.0.1; over TLS with `tls` (a server context holding the certificate)."""
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        if tls is not None:
            # The handshake happens in the request's thread, not in the accept loop.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
            self._scheme = "https"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="konnectnxt-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_case(self, case_id: str, source: CaseSource) -> None:
        """Serve `source` for `case_id`: a timeline, a fixed report `data`, or a function of time."""
        with self._lock:
            self.cases[case_id] = source

    def add_generated_case(
        self, case_id: str, opened_at: float, span_seconds: float, final_status: str = "completed"
    ) -> CaseTimeline:
        timeline = timeline_for(case_id, opened_at, span_seconds, final_status)
        self.add_case(case_id, timeline)
        return timeline

    def add_demo_cases(self, demo_started_at: float) -> list[str]:
        for case_id, timeline in demo_timelines(demo_started_at).items():
            self.add_case(case_id, timeline)
        return demo_case_ids()

    def add_fault(self, fault: Fault) -> None:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self.faults.append(fault)

    def revoke_keys_after(self, answered_requests: int | None) -> None:
        """Revoke every key once this many authorized requests have been answered (a key revoked mid-run)."""
        self._revoke_after = answered_requests

    def requests_for(self, case_id: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.case_id == case_id]

    def report_data(self, case_id: str) -> dict[str, Any] | None:
        source = self.cases.get(case_id)
        if source is None:
            return None
        if isinstance(source, CaseTimeline):
            return source.report(self.clock())
        if callable(source):
            return source(self.clock())
        return source

    def _take_fault(self, case_id: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.case_id is not None and fault.case_id != case_id:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None


def _handler_for(sandbox: Sandbox) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "KonnectNXT-Sandbox/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.arrived_at = time.time()
            with sandbox._lock:
                sandbox.in_flight += 1
                sandbox.max_in_flight = max(sandbox.max_in_flight, sandbox.in_flight)
            try:
                if sandbox.latency:
                    time.sleep(sandbox.latency)
                self._answer()
            finally:
                with sandbox._lock:
                    sandbox.in_flight -= 1

        def _answer(self) -> None:
            url = urlsplit(self.path)
            case_id = _normalise(parse_qs(url.query).get("case_id", [None])[0])
            authorized = self.headers.get("Authorization", "") in {f"Bearer {k}" for k in sandbox.api_keys}
            report_path = API_PREFIX + REPORT_PATH
            if url.path == report_path.rstrip("/"):
                location = report_path + (f"?{url.query}" if url.query else "")
                return self._send(301, b"", case_id, authorized, {"Location": location}, "text/html")
            if url.path != report_path:
                return self._send_envelope(404, "Not found.", case_id, authorized)
            if not authorized:
                return self._send_envelope(401, "Invalid or missing API key.", case_id, authorized)
            fault = sandbox._take_fault(case_id)
            if fault is not None and self._inject(fault, case_id):
                return
            if not case_id:
                return self._send_envelope(400, "case_id is required.", case_id, authorized)
            data = sandbox.report_data(case_id)
            if data is None:
                return self._send_envelope(404, "Case not found.", case_id, authorized)
            body = {
                "status": "success",
                "code": 200,
                "message": "Report JSON fetched successfully.",
                "data": data,
                "errors": None,
            }
            self._send(200, json.dumps(body).encode(), case_id, authorized)

        def _inject(self, fault: Fault, case_id: str | None) -> bool:
            """Answer with the fault; False when the fault only delays a normal answer."""
            if fault.kind == "slow":
                time.sleep(fault.delay)
                return False
            answer = faulty_answer(fault, sandbox.report_data(case_id))
            record = self._record(case_id, answer.status, True)
            if not answer.status:
                self.close_connection = True
                time.sleep(answer.hold)
                if answer.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                return True
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.close_connection = "Content-Length" not in answer.headers
            self.end_headers()
            record.body_bytes_written = write_all(self.wfile, answer.chunks, answer.delay_per_byte)
            return True

        def _send_envelope(
            self,
            status: int,
            message: str,
            case_id: str | None,
            authorized: bool,
            headers: dict[str, str] | None = None,
        ) -> None:
            body = {"status": "error", "code": status, "message": message, "data": None, "errors": None}
            self._send(status, json.dumps(body).encode(), case_id, authorized, headers)

        def _send(
            self,
            status: int,
            body: bytes,
            case_id: str | None,
            authorized: bool,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            record = self._record(case_id, status, authorized)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            record.body_bytes_written = len(body)

        def _record(self, case_id: str | None, status: int, authorized: bool) -> RequestRecord:
            record = RequestRecord(case_id, status, self.arrived_at, self.path, authorized)
            with sandbox._lock:
                sandbox.requests.append(record)
                sandbox._answered += authorized
                if sandbox._revoke_after is not None and sandbox._answered >= sandbox._revoke_after:
                    sandbox.api_keys.clear()
            return record

    return Handler


def _normalise(case_id: str | None) -> str | None:
    return case_id.strip().lower().replace("-", "") if case_id else case_id


def main() -> None:
    """Serve the demo cases until interrupted: `python -m konnectnxt.sandbox --port 8765`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    args = parser.parse_args()
    sandbox = Sandbox().start(args.port)
    sandbox.latency = args.latency
    ids = sandbox.add_demo_cases(time.time())
    print(f"sandbox at {sandbox.base_url}  api key: {DEMO_API_KEY}  cases: {len(ids)}")
    print("\n".join(ids))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sandbox.stop()


if __name__ == "__main__":
    main()
