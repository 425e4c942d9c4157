"""One run at a time: a file lock beside the working dir, and on PostgreSQL a lock in the database itself.

The file lock dies with its process. The database lock (an advisory lock held by the run's connection)
dies with its session, and keeps runs from any host apart; both say who holds them.
"""

import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from .errors import RunLocked

# Shown in the file and, on PostgreSQL, as the session's application_name (63 characters at most).
HOLDER_FORMAT = "bgv host={host} pid={pid} since={since}"


def holder_text() -> str:
    since = datetime.now(UTC).isoformat(timespec="seconds")
    return HOLDER_FORMAT.format(host=socket.gethostname()[:24], pid=os.getpid(), since=since)


def holder_phrase(text: str) -> str:
    """`host H pid N since T` from what a holder wrote."""
    fields = dict(part.split("=", 1) for part in text.split() if "=" in part)
    if not {"host", "pid", "since"} <= set(fields):
        return "host unknown pid unknown"
    return f"host {fields['host']} pid {fields['pid']} since {fields['since']}"


@contextmanager
def run_lock(path: str) -> Iterator[None]:
    """Hold `path` exclusively for the run; a lock left by a dead process is free again."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip()
        os.close(descriptor)
        raise RunLocked(f"another run is in progress: {holder_phrase(holder)} (lock file {path})") from None
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, (holder_text() + "\n").encode(), 0)
        yield
    finally:
        os.ftruncate(descriptor, 0)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def advisory_key(name: str) -> tuple[int, int]:
    """Two 31-bit halves of a key for `name`, as pg_locks shows an advisory lock (classid, objid)."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return (digest >> 33) & 0x7FFFFFFF, digest & 0x7FFFFFFF


@contextmanager
def database_run_lock(client: Any, name: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock named `name` on `client`'s session for the run.

    A second run, from any host, sees who holds it in pg_stat_activity and exits 2.
    """
    high, low = advisory_key(name)
    client.execute_sql("select set_config('application_name', %s, false)", holder_text())
    if not client.execute_sql("select pg_try_advisory_lock(%s, %s)", high, low)[0][0]:
        rows = client.execute_sql(
            "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 2",
            high,
            low,
        )
        holder = holder_phrase(rows[0][0]) if rows else "host unknown pid unknown"
        raise RunLocked(f"another run is in progress: {holder} (a lock in the database {name})")
    try:
        yield
    finally:
        client.execute_sql("select pg_advisory_unlock(%s, %s)", high, low)
