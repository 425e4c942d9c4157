"""KonnectNXT API client: one report per request, bounded retries, bounded concurrency."""

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from .errors import AuthenticationFailed
from .redaction import redact, register_secret
from .settings import REPORT_PATH

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "bgv-warehouse (dlt pipeline)"


@dataclass
class FetchOutcome:
    """What one case's fetch produced: the report's `data`, or why there is none."""

    case_id: str
    polled_at: datetime
    data: dict[str, Any] | None = None
    http_status: int | None = None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.data is not None


@dataclass
class RequestCounters:
    """Requests and retries of one run, shared by all worker threads."""

    requests: int = 0
    retries: int = 0


class _TransientFailure(Exception):
    def __init__(self, message: str, http_status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after


class KonnectNxtClient:
    """Fetches reports with retries; the API key only ever goes into the Authorization header."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float,
        max_attempts: int,
        max_retries_per_run: int,
        retry_base_delay: float,
        retry_max_delay: float,
        max_requests_per_second: float = 0,
    ) -> None:
        self.report_url = base_url.rstrip("/") + REPORT_PATH
        # A vendor error page may echo the Authorization header back; it must not reach a table.
        register_secret(api_key)
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json", "User-Agent": USER_AGENT}
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retries_per_run = max_retries_per_run
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.counters = RequestCounters()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stopped = threading.Event()
        self._min_gap = 1.0 / max_requests_per_second if max_requests_per_second > 0 else 0.0
        self._next_slot = 0.0

    @classmethod
    def for_endpoint(cls, base_url: str, api_key: str, settings: Any) -> "KonnectNxtClient":
        """A client for `base_url` with the timeout, retry and rate settings of the configuration."""
        return cls(
            base_url,
            api_key,
            timeout=settings.request_timeout,
            max_attempts=settings.max_attempts,
            max_retries_per_run=settings.max_retries_per_run,
            retry_base_delay=settings.retry_base_delay,
            retry_max_delay=settings.retry_max_delay,
            max_requests_per_second=settings.max_requests_per_second,
        )

    def stop(self) -> None:
        """Make every later `fetch_report` return at once without sending a request."""
        self._stopped.set()

    def fetch_report(self, case_id: str) -> FetchOutcome:
        """The case's report, retrying transient faults; raises AuthenticationFailed on 401."""
        polled_at = datetime.now(UTC)
        attempt = 0
        while True:
            attempt += 1
            if self._stopped.is_set():
                return FetchOutcome(case_id, polled_at, error="run stopped before this request", attempts=attempt - 1)
            try:
                data = self._request_report(case_id)
                return FetchOutcome(case_id, polled_at, data=data, http_status=200, attempts=attempt)
            except _TransientFailure as failure:
                if attempt >= self.max_attempts or not self._take_retry():
                    return FetchOutcome(
                        case_id,
                        polled_at,
                        http_status=failure.http_status,
                        error=redact(str(failure)),
                        attempts=attempt,
                    )
                time.sleep(self._retry_delay(attempt, failure.retry_after))
            except _PermanentFailure as failure:
                return FetchOutcome(
                    case_id, polled_at, http_status=failure.http_status, error=redact(str(failure)), attempts=attempt
                )

    def _request_report(self, case_id: str) -> dict[str, Any]:
        self._pace()
        with self._lock:
            self.counters.requests += 1
        try:
            response = self._session().get(
                self.report_url, params={"case_id": case_id}, headers=self._headers, timeout=self.timeout
            )
        except requests.Timeout:
            raise _TransientFailure(f"no answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise _TransientFailure(f"connection failed: {type(exc).__name__}") from None
        status = response.status_code
        if status == 401:
            self.stop()  # queued cases must not be requested with a key the API has rejected
            raise AuthenticationFailed(
                "authentication failed: the API answered 401 Unauthorized; check api_key in "
                ".dlt/secrets.toml [sources.konnectnxt] or SOURCES__KONNECTNXT__API_KEY"
            )
        envelope = _json_body(response)
        message = _envelope_message(envelope)
        if status in TRANSIENT_STATUSES or status >= 500:
            raise _TransientFailure(
                f"HTTP {status}{': ' + message if message else ''}",
                http_status=status,
                retry_after=_retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status != 200:
            text = message or ("case not found" if status == 404 else response.reason or "request refused")
            raise _PermanentFailure(f"HTTP {status}: {text}", http_status=status)
        if envelope is None:
            raise _TransientFailure(
                "HTTP 200 with a body that is not JSON (truncated or an error page)", http_status=200
            )
        if not isinstance(envelope, dict) or envelope.get("status") != "success":
            code = envelope.get("code") if isinstance(envelope, dict) else None
            code = code if isinstance(code, int) else 200
            text = (
                f"API answered status {envelope.get('status')!r}" if isinstance(envelope, dict) else "unexpected body"
            )
            failure = f"{text}{': ' + message if message else ''} (HTTP 200, code {code})"
            if code in TRANSIENT_STATUSES or code >= 500:
                raise _TransientFailure(failure, http_status=code)
            raise _PermanentFailure(failure, http_status=code)
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise _PermanentFailure("HTTP 200 but the envelope holds no report data", http_status=200)
        return data

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
        return session

    def _pace(self) -> None:
        if not self._min_gap:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._min_gap
        if slot > now:
            time.sleep(slot - now)

    def _take_retry(self) -> bool:
        with self._lock:
            if self.counters.retries >= self.max_retries_per_run:
                return False
            self.counters.retries += 1
            return True

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_max_delay)
        return min(self.retry_base_delay * 2 ** (attempt - 1), self.retry_max_delay)


class _PermanentFailure(Exception):
    def __init__(self, message: str, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


def fetch_reports(client: KonnectNxtClient, case_ids: Sequence[str], workers: int) -> Iterator[FetchOutcome]:
    """Outcomes for all ids, at most `workers` requests in flight, in completion order.

    The first id is requested alone: a 401 or 403 there means the key is bad, and no other request
    is sent. A 401 later stops the run too; a later 403 is a failure of that one case.
    """
    if not case_ids:
        return
    first = client.fetch_report(case_ids[0])
    if first.http_status == 403:
        raise AuthenticationFailed(
            "authentication failed: the API answered 403 Forbidden to the first request; check api_key "
            "in .dlt/secrets.toml [sources.konnectnxt] or SOURCES__KONNECTNXT__API_KEY"
        )
    yield first
    remaining = iter(case_ids[1:])
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="konnectnxt-fetch")
    pending: set[Future] = set()
    try:
        for case_id in remaining:
            pending.add(pool.submit(client.fetch_report, case_id))
            if len(pending) >= workers * 2:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                next_id = next(remaining, None)
                if next_id is not None:
                    pending.add(pool.submit(client.fetch_report, next_id))
    finally:
        client.stop()
        pool.shutdown(wait=True, cancel_futures=True)


def _json_body(response: requests.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def _envelope_message(envelope: Any) -> str:
    if isinstance(envelope, dict):
        message = envelope.get("message") or envelope.get("detail")
        if isinstance(message, str):
            return message[:300]
    return ""


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)
