"""Expected failures, each carrying the exit code the command line reports for it."""

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
