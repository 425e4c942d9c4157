"""KonnectNXT API client: one report per request, bounded retries, the key kept on its host (many at once:
`fetching.py`)."""

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from . import transport
from .answers import PermanentFailure, TransientFailure, report_data
from .errors import AuthenticationFailed
from .rate_limit import SlidingWindowLimiter
from .redaction import redact, register_secret
from .settings import REPORT_PATH
from .transport import Answer, AnswerTooLarge, BearerKey, Deadline, NoAnswer

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# The API redirects only to add a missing trailing slash; more hops than this is a loop.
MAX_REDIRECTS = 3
# The client stops requesting after this many requests in a row got no answer (at least; see for_endpoint).
MIN_NO_ANSWER_STREAK = 5
USER_AGENT = "bgv-warehouse (dlt pipeline)"


@dataclass
class FetchOutcome:
    """What one case's fetch produced: the report's `data`, or why there is none (attempts 0: never requested)."""

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
    """Requests of one run, shared by all worker threads.

    Every request sent ends up either `answered` (an HTTP answer came, whatever its status) or in
    `transport_failures` (none came: refused, DNS lookup failed, timeout, TLS error, reset).
    """

    requests: int = 0
    retries: int = 0
    answered: int = 0
    transport_failures: int = 0


class _NotSent(Exception):
    """The client was stopped before this request could be sent."""


class KonnectNxtClient:
    """Fetches reports with retries; the API key goes only into the Authorization header, only to the API's host.

    After `stop_after_no_answers` requests in a row (across all workers) got no answer, it stops like
    `stop()` and `stopped_answering` says why: `host: reason (N requests in a row without an answer)`.
    """

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
        max_report_bytes: int,
        max_requests_per_second: float = 0,
        stop_after_no_answers: int = MIN_NO_ANSWER_STREAK,
    ) -> None:
        self.report_url = base_url.rstrip("/") + REPORT_PATH
        self.host = transport.host_of(self.report_url)
        # A vendor error page may echo the Authorization header back; it must not reach a table.
        register_secret(api_key)
        self._auth = BearerKey(api_key)
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_retries_per_run = max_retries_per_run
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self.max_report_bytes = max_report_bytes
        self.stop_after_no_answers = stop_after_no_answers
        self.counters = RequestCounters()
        self.sent_at: dict[str, datetime] = {}  # case id -> its last request: min_poll_interval after a kill
        self.stopped_answering: str | None = None
        self.last_transport_failure: str | None = None
        self._no_answer_streak = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        self._stopped = threading.Event()
        self._limiter = SlidingWindowLimiter(max_requests_per_second) if max_requests_per_second > 0 else None

    @classmethod
    def for_endpoint(cls, base_url: str, api_key: str, settings: Any) -> "KonnectNxtClient":
        """A client for `base_url` with the timeout, retry, size and rate settings of the configuration."""
        return cls(
            base_url,
            api_key,
            timeout=settings.request_timeout,
            max_attempts=settings.max_attempts,
            max_retries_per_run=settings.max_retries_per_run,
            retry_base_delay=settings.retry_base_delay,
            retry_max_delay=settings.retry_max_delay,
            max_report_bytes=settings.max_report_bytes,
            max_requests_per_second=settings.max_requests_per_second,
            # Twice the requests in flight: a blip that fails every worker's request once does not stop a run.
            stop_after_no_answers=max(MIN_NO_ANSWER_STREAK, 2 * settings.workers),
        )

    @property
    def unreachable(self) -> str | None:
        """`host: reason` of the last failure when no request of this run got an answer, else None."""
        with self._lock:
            if self.counters.transport_failures and not self.counters.answered:
                return self.last_transport_failure
        return None

    def stop(self) -> None:
        """Make every later `fetch_report` return at once without sending a request."""
        self._stopped.set()

    def stop_sending(self) -> dict[str, datetime]:
        """Stop, then case id -> when it was last requested: every request this client ever sends is
        in it, since a request is recorded before the stop is checked. An interrupted run calls it
        while the fetch waits at a `yield`, its queued requests not yet sent."""
        self.stop()
        with self._lock:
            return dict(self.sent_at)

    def fetch_report(self, case_id: str) -> FetchOutcome:
        """The case's report, retrying transient faults; raises AuthenticationFailed on 401."""
        polled_at = datetime.now(UTC)
        attempt = 0
        while True:
            attempt += 1
            try:
                data = self._report_data(self._get_report(case_id))
                return FetchOutcome(case_id, polled_at, data=data, http_status=200, attempts=attempt)
            except _NotSent:
                return FetchOutcome(case_id, polled_at, error=self._not_sent_reason(), attempts=attempt - 1)
            except TransientFailure as failure:
                if (
                    attempt >= self.max_attempts
                    or not self._take_retry()
                    or self._stopped.wait(self._retry_delay(attempt, failure.retry_after))
                ):
                    return _failed(case_id, polled_at, failure, attempt)
            except PermanentFailure as failure:
                return _failed(case_id, polled_at, failure, attempt)

    def _not_sent_reason(self) -> str:
        if self.stopped_answering:
            return f"not requested: the API stopped answering ({self.stopped_answering})"
        return "run stopped before this request"

    def _get_report(self, case_id: str) -> Answer:
        """The answer for the case, following redirects that stay on the API's scheme, host and port."""
        deadline = Deadline(self.timeout)
        url, params = self.report_url, {"case_id": case_id}
        with self._lock:
            self.sent_at[case_id] = datetime.now(UTC)
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._send(url, params, deadline)
            if answer.status not in REDIRECT_STATUSES:
                return answer
            url, params = self._redirect_target(url, answer), None
        raise PermanentFailure(f"HTTP {answer.status}: more than {MAX_REDIRECTS} redirects", answer.status)

    def _redirect_target(self, url: str, answer: Answer) -> str:
        location = (answer.headers.get("Location") or "").strip()
        if not location:
            raise PermanentFailure(f"HTTP {answer.status}: a redirect without a Location", answer.status)
        target = urljoin(url, location)
        if not transport.same_origin(target, self.report_url):
            parts = urlsplit(target)  # shown without user info or query: either may carry credentials
            shown = f"{parts.scheme}://{transport.host_of(target)}{parts.path}"[:200]
            raise PermanentFailure(
                f"HTTP {answer.status}: redirect to {shown} not followed: the API key is sent only to {self.host}",
                answer.status,
            )
        return target

    def _send(self, url: str, params: dict[str, str] | None, deadline: Deadline) -> Answer:
        if self._limiter is not None:
            self._limiter.wait_for_turn(self._stopped)
        if self._stopped.is_set():
            raise _NotSent
        with self._lock:
            self.counters.requests += 1
        try:
            answer = transport.bounded_get(
                self._session(),
                url,
                params=params,
                auth=self._auth,
                headers=self._headers,
                deadline=deadline,
                max_bytes=self.max_report_bytes,
            )
        except NoAnswer as failure:
            self._count_no_answer(str(failure))
            if failure.retryable:
                raise TransientFailure(str(failure)) from None
            raise PermanentFailure(str(failure)) from None
        except AnswerTooLarge as failure:
            self._count_answer()
            raise PermanentFailure(str(failure), failure.http_status) from None
        self._count_answer()
        return answer

    def _count_answer(self) -> None:
        with self._lock:
            self.counters.answered += 1
            self._no_answer_streak = 0

    def _count_no_answer(self, reason: str) -> None:
        with self._lock:
            self.counters.transport_failures += 1
            self.last_transport_failure = reason
            self._no_answer_streak += 1
            if self.stopped_answering or self._no_answer_streak < self.stop_after_no_answers:
                return
            self.stopped_answering = f"{reason} ({self._no_answer_streak} requests in a row without an answer)"
        self.stop()

    def _report_data(self, answer: Answer) -> dict[str, Any]:
        try:
            return report_data(answer)
        except AuthenticationFailed:
            self.stop()  # queued cases must not be requested with a key the API has rejected
            raise

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = transport.new_session(self.report_url)
            self._local.session = session
        return session

    def _take_retry(self) -> bool:
        with self._lock:
            if self.counters.retries >= self.max_retries_per_run:
                return False
            self.counters.retries += 1
            return True

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_max_delay)
        # The exponent is capped: 2 ** 1100 does not fit a float, whatever max_attempts allows.
        return min(self.retry_base_delay * 2 ** min(attempt - 1, 60), self.retry_max_delay)


def _failed(
    case_id: str, polled_at: datetime, failure: TransientFailure | PermanentFailure, attempts: int
) -> FetchOutcome:
    return FetchOutcome(
        case_id, polled_at, http_status=failure.http_status, error=redact(str(failure)), attempts=attempts
    )
