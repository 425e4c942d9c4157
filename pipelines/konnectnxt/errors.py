"""Expected failures, each carrying the exit code the command line reports for it."""

import errno
import re

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_NOTHING_FETCHED = 2
EXIT_INTERNAL_ERROR = 3
EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM exits 143, as shells report signals (128 + number)
EXIT_TERMINATED = 143


class BgvError(Exception):
    """A failure the user can act on: printed as one line, never as a traceback."""

    exit_code = EXIT_NOTHING_FETCHED


class ConfigurationError(BgvError):
    """A missing or malformed configuration value."""


class CaseIdInputError(BgvError):
    """A case-id input (flag or file) that cannot be used at all."""


class AuthenticationFailed(BgvError):
    """The API rejected the key (401, or 403 on a run's first request)."""


class ApiUnreachable(BgvError):
    """No request of the run got an answer, or the API stopped answering in the middle of it."""


class WrongBaseUrl(BgvError):
    """Every request of the run answered 404: the URL, not the cases, is wrong."""


class RunLocked(BgvError):
    """Another run of the same pipeline holds the lock."""


class DestinationError(BgvError):
    """The warehouse cannot be read or written."""


class NoSpaceLeft(DestinationError):
    """The database's or the working dir's filesystem is full: nothing pending is discarded for it."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no space left on device: {path}")


class RunTimeLimit(BgvError):
    """The run's fetching went on past `max_run_seconds`: what it had is loaded, the rest waits."""

    exit_code = EXIT_PARTIAL


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt (dlt treats both alike)."""


def interruption(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind `exc`, also when dlt wrapped it into one of its errors."""
    cause = exc if isinstance(exc, KeyboardInterrupt) else root_cause(exc)
    return cause if isinstance(cause, KeyboardInterrupt) else None


def interrupted_exit_code(exc: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def root_cause(exc: BaseException) -> BaseException:
    """The first of our own errors in the chain dlt wraps around failures, else the innermost exception."""
    seen = set()
    while id(exc) not in seen and not isinstance(exc, BgvError):
        seen.add(id(exc))
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def cause_line(exc: BaseException) -> str:
    """The first line of the root cause's message (its type name when it has none), for one-line errors."""
    cause = root_cause(exc)
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def describe(exc: BaseException) -> str:
    """`Type: message` of the root cause, for an internal error's one line and `runs.error`."""
    return f"{type(root_cause(exc)).__name__}: {cause_line(exc)}"


# What a full filesystem says: the OS (ENOSPC), DuckDB ("No space left on device", "Could not write
# all bytes to file ..."), PostgreSQL ("could not extend file", "could not write to file").
_NO_SPACE = re.compile(r"no space left on device|could not write|could not extend file|disk is full", re.IGNORECASE)
_QUOTED_PATH = re.compile(r"[\"']([^\"']*[/\\][^\"']*)[\"']")
# Faults of the machine, the network or the server, not of the data being loaded: pending data waits for them.
_ENVIRONMENTAL_TYPES = {
    "IOException",  # duckdb: reading or writing its files
    "OutOfMemoryException",
    "ConnectionException",
    "OperationalError",  # psycopg2: server down, connection lost, disk full, ...
    "InterfaceError",
    "DestinationConnectionError",
}
# Read in the innermost error's first line only: dlt's own messages carry whole tracebacks.
_ENVIRONMENTAL_TEXT = re.compile(
    r"no space left|could not write|could not extend|disk is full|out of memory|connection refused|"
    r"could not connect|server closed the connection|timed? ?out|read-only file system|permission denied",
    re.IGNORECASE,
)
_ENVIRONMENTAL_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOMEM,
    errno.EMFILE,
    errno.ENFILE,
}


def chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it wraps (dlt's `.exception`, causes, contexts), outermost first."""
    found: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        for inner in (getattr(current, "exception", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                pending.append(inner)
    return found


def no_space_left(exc: BaseException, fallback: str = "") -> str | None:
    """The path on a full filesystem behind `exc` (or `fallback` when no message names it), else None."""
    for cause in chain(exc):
        if isinstance(cause, NoSpaceLeft):
            return str(cause).split(": ", 1)[1]
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return cause.filename or fallback
        # dlt puts whole tracebacks into its messages: the path is the one on the line that says so.
        for line in str(cause).splitlines():
            if _NO_SPACE.search(line):
                quoted = _QUOTED_PATH.search(line)
                return quoted.group(1) if quoted else fallback
    return None


def is_environmental(exc: BaseException) -> bool:
    """A fault of the disk, memory, network or server behind `exc`: retrying later can succeed.

    A missing or corrupt file of a package is not: that package can never load.
    """
    for cause in chain(exc):
        if isinstance(cause, ConnectionError | TimeoutError | MemoryError):
            return True
        if isinstance(cause, OSError) and cause.errno in _ENVIRONMENTAL_ERRNOS:
            return True
        if type(cause).__name__ in _ENVIRONMENTAL_TYPES:
            return True
    return bool(_ENVIRONMENTAL_TEXT.search(cause_line(exc)))
