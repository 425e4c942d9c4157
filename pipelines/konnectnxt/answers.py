"""What an answer of the report endpoint means: the report's `data`, or a transient or permanent failure."""

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import AuthenticationFailed
from .transport import Answer

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientFailure(Exception):
    """Worth retrying: 429, 5xx, a truncated or non-JSON 200, no answer at all."""

    def __init__(self, message: str, http_status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """The same request would fail the same way: 404, 403, a refused redirect, an answer over the size limit."""

    def __init__(self, message: str, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


def report_data(answer: Answer) -> dict[str, Any]:
    """The report `data` of a complete answer; raises why there is none (AuthenticationFailed on 401)."""
    status = answer.status
    if status == 401:
        raise AuthenticationFailed(
            "authentication failed: the API answered 401 Unauthorized; check api_key in "
            ".dlt/secrets.toml [sources.konnectnxt] or SOURCES__KONNECTNXT__API_KEY"
        )
    envelope = _json_body(answer.body)
    message = _envelope_message(envelope)
    if status in TRANSIENT_STATUSES or status >= 500:
        raise TransientFailure(
            f"HTTP {status}{': ' + message if message else ''}",
            http_status=status,
            retry_after=_retry_after_seconds(answer.headers.get("Retry-After")),
        )
    if status != 200:
        text = message or ("case not found" if status == 404 else answer.reason or "request refused")
        raise PermanentFailure(f"HTTP {status}: {text}", http_status=status)
    if envelope is None:
        raise TransientFailure("HTTP 200 with a body that is not JSON (truncated or an error page)", http_status=200)
    if not isinstance(envelope, dict) or envelope.get("status") != "success":
        code = envelope.get("code") if isinstance(envelope, dict) else None
        code = code if isinstance(code, int) else 200
        text = f"API answered status {envelope.get('status')!r}" if isinstance(envelope, dict) else "unexpected body"
        failure = f"{text}{': ' + message if message else ''} (HTTP 200, code {code})"
        if code in TRANSIENT_STATUSES or code >= 500:
            raise TransientFailure(failure, http_status=code)
        raise PermanentFailure(failure, http_status=code)
    data = envelope.get("data")
    if not isinstance(data, dict):
        raise PermanentFailure("HTTP 200 but the envelope holds no report data", http_status=200)
    return data


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
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
