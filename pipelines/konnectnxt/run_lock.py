"""One run at a time per pipeline: an advisory file lock that dies with its process."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from .errors import RunLocked


@contextmanager
def run_lock(path: str) -> Iterator[None]:
    """Hold `path` exclusively for the run; a lock left by a dead process is free again."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(descriptor, 200, 0).decode(errors="replace").split()
        os.close(descriptor)
        running = f"pid {holder[0]} since {holder[1]}" if len(holder) >= 2 else "pid unknown"
        raise RunLocked(f"another run is in progress: {running} (lock file {path})") from None
    try:
        os.ftruncate(descriptor, 0)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.pwrite(descriptor, f"{os.getpid()} {started}\n".encode(), 0)
        yield
    finally:
        os.ftruncate(descriptor, 0)
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)
