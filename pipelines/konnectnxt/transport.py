"""One HTTP GET bounded in time (connect to last byte) and in size; a failure names the host and the reason."""

import errno
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.client import IncompleteRead
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, ProtocolError, ReadTimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

_CHUNK_BYTES = 64 * 1024
_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.ECONNABORTED: "connection reset",
    errno.EPIPE: "connection reset",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
}


def is_loopback_host(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost: this machine, where no proxy and no ~/.netrc has any business."""
    if not host:
        return False
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(url: str) -> str:
    """`host` or `host:port` of a URL, without any user info, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port}" if parts.port else host


def same_origin(url: str, other: str) -> bool:
    """Same scheme, host and port."""
    return _origin(url) == _origin(other)


def new_session(base_url: str) -> requests.Session:
    """A session for `base_url`; the environment's proxy settings apply unless the host is the loopback."""
    session = requests.Session()
    # trust_env also makes requests read ~/.netrc, which only matters without auth=; we always pass auth=.
    session.trust_env = not is_loopback_host(urlsplit(base_url).hostname)
    return session


class BearerKey(requests.auth.AuthBase):
    """`Authorization: Bearer <key>`; passed as auth=, so requests never swaps in credentials from ~/.netrc."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        return request

    def __repr__(self) -> str:
        return "BearerKey(***)"


@dataclass
class Deadline:
    """The time budget of one request, redirects included."""

    seconds: float
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()


@dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, headers and the whole body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class NoAnswer(Exception):
    """No complete answer: refused, DNS lookup failed, timeout, TLS error, reset. The message is `host: reason`."""

    def __init__(self, host: str, reason: str, retryable: bool = True) -> None:
        super().__init__(f"{host}: {reason}")
        self.retryable = retryable


class AnswerTooLarge(Exception):
    """The answer is over the size limit; it was not read to the end."""

    def __init__(self, message: str, http_status: int) -> None:
        super().__init__(message)
        self.http_status = http_status


def bounded_get(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, str] | None,
    auth: requests.auth.AuthBase,
    headers: Mapping[str, str],
    deadline: Deadline,
    max_bytes: int,
) -> Answer:
    """GET `url` without following redirects, within `deadline`, refusing bodies over `max_bytes`."""
    host = host_of(url)
    remaining = deadline.remaining()
    if remaining <= 0:
        raise NoAnswer(host, f"no complete answer within {deadline.seconds:g} s")
    try:
        # total= caps connect plus the wait for the first byte (headers trickled byte by byte are bounded
        # per read only, DNS by the resolver); the body is bounded below, read by read.
        response = session.get(
            url,
            params=params,
            auth=auth,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=urllib3.Timeout(total=remaining),
        )
    except requests.RequestException as exc:
        raise _no_answer(host, exc, deadline) from None
    with response:
        declared = _content_length(response)
        if declared is not None and declared > max_bytes:
            raise AnswerTooLarge(
                f"answer of {declared} bytes is over max_report_bytes ({max_bytes}); not read",
                response.status_code,
            )
        body = _read_body(response, host, deadline, max_bytes)
    return Answer(response.status_code, response.reason or "", response.headers, body)


def _read_body(response: requests.Response, host: str, deadline: Deadline, max_bytes: int) -> bytes:
    connection = response.raw.connection
    sock = getattr(connection, "sock", None)
    body = bytearray()
    while True:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise NoAnswer(host, f"no complete answer within {deadline.seconds:g} s")
        if sock is not None:
            # requests' read timeout restarts with every byte; this one shrinks to the deadline.
            sock.settimeout(remaining)
        try:
            chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
        except (Urllib3Error, OSError) as exc:
            raise _no_answer(host, exc, deadline) from None
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            raise AnswerTooLarge(
                f"answer is over max_report_bytes ({max_bytes}): reading stopped after {len(body)} bytes",
                response.status_code,
            )


def _content_length(response: requests.Response) -> int | None:
    try:
        return int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None


def _no_answer(host: str, exc: BaseException, deadline: Deadline) -> NoAnswer:
    chain = list(_causes(exc))

    def found(*types: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    if verify_error := found(ssl.SSLCertVerificationError):
        detail = getattr(verify_error, "verify_message", "") or "certificate not trusted"
        return NoAnswer(host, f"TLS certificate error: {detail}", retryable=False)
    if tls_error := found(ssl.SSLError):
        return NoAnswer(host, f"TLS error ({getattr(tls_error, 'reason', None) or 'handshake failed'})")
    if found(NameResolutionError, socket.gaierror):
        return NoAnswer(host, "DNS lookup failed")
    # Checked before timeouts: urllib3's NewConnectionError (refused, unreachable) subclasses its TimeoutError.
    known_errno = next((e.errno for e in chain if isinstance(e, OSError) and e.errno in _ERRNO_REASONS), None)
    if known_errno is not None:
        reason = _ERRNO_REASONS[known_errno]
    elif found(ConnectionResetError):
        reason = "connection reset"
    elif found(TimeoutError, requests.Timeout, ReadTimeoutError, ConnectTimeoutError):
        reason = f"no complete answer within {deadline.seconds:g} s"
    elif found(IncompleteRead, ProtocolError, requests.exceptions.ChunkedEncodingError):
        reason = "connection closed before the answer was complete"
    else:
        reason = f"connection failed ({type(exc).__name__})"
    if found(requests.exceptions.ProxyError):
        reason = f"proxy failed: {reason}"
    return NoAnswer(host, reason)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: requests and urllib3 nest the socket error a few levels deep."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        stack.extend(e for e in inner if isinstance(e, BaseException))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default_port
