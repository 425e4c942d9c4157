"""Expected failures, each carrying the exit code the command line reports for it."""

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_NOTHING_FETCHED = 2
EXIT_INTERNAL_ERROR = 3


class BgvError(Exception):
    """A failure the user can act on: printed as one line, never as a traceback."""

    exit_code = EXIT_NOTHING_FETCHED


class ConfigurationError(BgvError):
    """A missing or malformed configuration value."""


class CaseIdInputError(BgvError):
    """A case-id input (flag or file) that cannot be used at all."""


class AuthenticationFailed(BgvError):
    """The API rejected the key (401, or 403 on a run's first request)."""


class RunLocked(BgvError):
    """Another run of the same pipeline holds the lock."""


class DestinationError(BgvError):
    """The warehouse cannot be read or written."""
