"""What the sandbox can be told to do wrong: API errors, and what a network or a broken server does to an answer."""

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

FAULT_KINDS = (
    "status",
    "html",
    "truncated",
    "not_json",
    "envelope_error",
    "reset",
    "slow",
    "trickle",
    "hang",
    "huge",
    "endless",
    "redirect",
)
_CHUNK_BYTES = 64 * 1024
# An endless body ends here at the latest, so a client that never stops reading cannot hang a test forever.
ENDLESS_BODY_CAP = 1 << 31


@dataclass
class Fault:
    """A scripted misbehaviour: for one case (or all), the next `times` requests (None = forever).

    `status`, `retry_after`, `message`: the answer of status, html and envelope_error (redirect: its 3xx).
    `delay`: seconds before a normal answer (slow), between two bytes of the answer (trickle), or before
    the connection is closed without any answer (hang). `size`: the body's bytes (huge, with its
    Content-Length). `location`: where a redirect points.
    """

    kind: str
    case_id: str | None = None
    times: int | None = 1
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0
    message: str = "Internal server error."
    size: int = 0
    location: str | None = None


@dataclass
class FaultyAnswer:
    """What the sandbox sends for a fault; status 0: no answer, the connection is closed (after `hold` s)."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] = ()
    delay_per_byte: float = 0.0
    hold: float = 0.0
    reset: bool = False


def faulty_answer(fault: Fault, report_data: dict[str, Any] | None) -> FaultyAnswer:
    """The answer of every kind but slow (which only delays the normal answer)."""
    retry_after = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
    report = json.dumps({"status": "success", "code": 200, "data": report_data or {}}).encode()
    if fault.kind in ("reset", "hang"):
        return FaultyAnswer(hold=fault.delay if fault.kind == "hang" else 0.0, reset=fault.kind == "reset")
    if fault.kind == "endless":
        return FaultyAnswer(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}, endless_chunks())
    if fault.kind == "huge":
        return FaultyAnswer(200, _headers(fault.size), padded_envelope(fault.size))
    if fault.kind == "trickle":
        return FaultyAnswer(200, _headers(len(report)), [report], delay_per_byte=fault.delay)
    if fault.kind == "redirect":
        return FaultyAnswer(fault.status, {**_headers(0, "text/html"), "Location": fault.location or "/"})
    if fault.kind == "html":
        page = f"<html><body><h1>{fault.status} Bad Gateway</h1></body></html>".encode()
        return FaultyAnswer(fault.status, {**_headers(len(page), "text/html"), **retry_after}, [page])
    if fault.kind == "truncated":
        return FaultyAnswer(200, _headers(len(report) // 2), [report[: len(report) // 2]])
    if fault.kind == "not_json":
        text = b"Service temporarily unavailable"
        return FaultyAnswer(200, _headers(len(text), "text/plain"), [text])
    # status: the error envelope with that HTTP status; envelope_error: the same envelope in an HTTP 200.
    envelope = {"status": "error", "code": fault.status, "message": fault.message, "data": None, "errors": None}
    body = json.dumps(envelope).encode()
    if fault.kind == "status":
        return FaultyAnswer(fault.status, {**_headers(len(body)), **retry_after}, [body])
    return FaultyAnswer(200, _headers(len(body)), [body])


def _headers(length: int, content_type: str = "application/json") -> dict[str, str]:
    return {"Content-Type": content_type, "Content-Length": str(length)}


def padded_envelope(size: int) -> Iterator[bytes]:
    """A valid success envelope of exactly `size` bytes (at least its frame), in chunks."""
    head = b'{"status": "success", "code": 200, "message": "Report JSON fetched successfully.", "data": {"padding": "'
    tail = b'"}, "errors": null}'
    yield head
    padding = max(size - len(head) - len(tail), 0)
    while padding > 0:
        chunk = min(padding, _CHUNK_BYTES)
        yield b"x" * chunk
        padding -= chunk
    yield tail


def endless_chunks() -> Iterator[bytes]:
    """HTTP/1.1 chunked-encoding frames of a body that does not end (up to ENDLESS_BODY_CAP)."""
    frame = f"{_CHUNK_BYTES:x}\r\n".encode() + b" " * _CHUNK_BYTES + b"\r\n"
    for _ in range(ENDLESS_BODY_CAP // _CHUNK_BYTES):
        yield frame


def write_all(out: BinaryIO, chunks: Iterator[bytes], delay_per_byte: float = 0.0) -> int:
    """Write `chunks` (byte by byte with `delay_per_byte`); the bytes written before the client went away."""
    written = 0
    try:
        for chunk in chunks:
            if delay_per_byte:
                for index in range(len(chunk)):
                    out.write(chunk[index : index + 1])
                    out.flush()
                    written += 1
                    time.sleep(delay_per_byte)
            else:
                out.write(chunk)
                written += len(chunk)
        out.flush()
    except OSError:
        pass
    return written
