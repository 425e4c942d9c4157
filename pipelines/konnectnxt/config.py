"""The `[sources.konnectnxt]` configuration, resolved by dlt from config.toml, secrets.toml and env.

Every key is defined once here: its default on the configspec, its help and expected shape in
`SETTINGS`, its checks in `on_resolved`. `--help`, the error messages and a test of `.dlt/config.toml`
are derived from them.
"""

import dataclasses
import logging
from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationValueError, ConfigValueCannotBeCoercedException
from dlt.common.configuration.providers.toml import TomlProviderReadException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from .config_checks import MAX_SECONDS, in_range, is_zone, positive_seconds, seconds_list
from .config_providers import refuse_misplaced_secrets, refuse_unreadable_settings, unknown_key_warnings
from .errors import ConfigurationError
from .pii import PII_MODES
from .polling import PollingRules
from .redaction import register_secret
from .transport import is_loopback_host
from .vendor_values import Fold, identity

SECTION = "[sources.konnectnxt]"
SECTIONS = ("sources", "konnectnxt")
ENV_PREFIX = "SOURCES__KONNECTNXT__"
VENDOR_MIN_POLL_INTERVAL = 15
MAX_WORKERS = 1000
MIN_REQUESTS_PER_SECOND = 1 / 3600
MAX_REQUESTS_PER_SECOND = 10_000
MIN_REPORT_BYTES = 1024
# PostgreSQL holds at most 1,600 columns a table; our own, dlt's and variant columns need room beside.
MAX_VENDOR_COLUMNS = 1000
_SPAN = f"at most {MAX_SECONDS} (10 years)"
_SECONDS = f"a number of seconds >= 0, {_SPAN}"
_POSITIVE_SECONDS = f"a number of seconds > 0, {_SPAN}"

logger = logging.getLogger("bgv")


class Setting(NamedTuple):
    help: str
    expected: str
    secret: bool = False


SETTINGS = {
    "api_key": Setting("your KonnectNXT API key", "the KonnectNXT API key as a string", secret=True),
    "base_url": Setting("API root", "an https URL such as https://bgv.konnectnxt.com/api (http only on the loopback)"),
    "case_ids": Setting(
        "extra case ids to track, besides --case-id and --cases-file",
        'a list of case ids, e.g. ["a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"] (JSON in env)',
    ),
    "min_poll_interval": Setting("seconds; a case that returned a report is not requested again within this", _SECONDS),
    "poll_intervals": Setting(
        "backoff in seconds for open cases that stay unchanged; a change resets it; the last repeats",
        f"a non-empty list of numbers of seconds > 0, each {_SPAN}, e.g. [30, 60, 300] (JSON in env)",
    ),
    "recheck_terminal_after": Setting(
        "seconds after a case was first seen terminal when it is requested once more; [] = never",
        f"a list of numbers of seconds > 0, each {_SPAN}, e.g. [86400, 604800]; [] turns it off (JSON in env)",
    ),
    "report_timezone": Setting(
        'zone of the vendor\'s completed_at texts ("13 May, 2026, 11:02")',
        "an IANA time zone name such as Asia/Kolkata",
    ),
    "workers": Setting("requests in flight at most", f"a whole number from 1 to {MAX_WORKERS}"),
    "max_requests_per_second": Setting(
        "cap on requests started in any 1 s window (below 1: one per 1/rate s); 0 = none",
        f"0 (no limit) or a number from 1/3600 (one request per hour) to {MAX_REQUESTS_PER_SECOND}",
    ),
    "request_timeout": Setting("seconds for a whole request, connect to last byte", _POSITIVE_SECONDS),
    "max_report_bytes": Setting(
        "an answer larger than this fails its case without being read to the end",
        f"a whole number of bytes >= {MIN_REPORT_BYTES}",
    ),
    "max_run_seconds": Setting("seconds of fetching per run; then it loads what it has and exits 1", _POSITIVE_SECONDS),
    "max_attempts": Setting("attempts per request for transient faults", "a whole number >= 1"),
    "max_retries_per_run": Setting("retries across the whole run", "a whole number >= 0"),
    "retry_base_delay": Setting("seconds before the first retry; doubles per retry", _SECONDS),
    "retry_max_delay": Setting("cap on one retry wait, in seconds", _SECONDS),
    "not_found_after_hours": Setting(
        "an id that has answered only 404 for this long, 5 times at least, is marked not found (never one that reported)",
        f"a number of hours >= 0, at most {MAX_SECONDS // 3600} (10 years)",
    ),
    "lock_wait_seconds": Setting("how long a run waits for another process to let go of the DuckDB file", _SECONDS),
    "health_max_age_minutes": Setting(
        "--status exits 0 only when the last run succeeded (exit 0 or 1) within this many minutes",
        f"a number of minutes > 0, at most {MAX_SECONDS // 60} (10 years)",
    ),
    "sla_days": Setting(
        'days per check type before sla_breaches lists a check; "default" covers the rest',
        f'a table of check type to days from 0 to {MAX_SECONDS // 86400} with a "default" key, '
        "e.g. {default = 7, criminal = 10}",
    ),
    "max_vendor_columns": Setting(
        "vendor keys that become columns, per table; the rest are kept in the JSON column vendor_overflow",
        f"a whole number from 0 to {MAX_VENDOR_COLUMNS}",
    ),
    "pii": Setting("personal data: keep, hash or drop", "one of keep, hash, drop"),
    "pii_salt": Setting('HMAC key for pii = "hash"', "a secret string", secret=True),
}


class InvalidSetting(ConfigurationValueError):
    """A value dlt could coerce to the key's type but that cannot work."""

    def __init__(self, field_name: str, value: Any, reason: str | None = None) -> None:
        super().__init__(f"{field_name} is malformed")
        self.field_name = field_name
        self.value = value
        self.reason = reason


@configspec
class KonnectNxtConfiguration(BaseConfiguration):
    """Every setting of the source; env `SOURCES__KONNECTNXT__<KEY>` overrides the toml files."""

    api_key: TSecretStrValue | None = None
    base_url: str = "https://bgv.konnectnxt.com/api"
    case_ids: list[str] = dataclasses.field(default_factory=list)
    # The vendor asks for a backoff starting 30 s, 60 s, 5 min and at most one request per 15 s.
    min_poll_interval: float = VENDOR_MIN_POLL_INTERVAL
    poll_intervals: list[float] = dataclasses.field(default_factory=lambda: [30, 60, 300, 900, 1800, 3600, 7200, 21600])
    # Completed cases re-open (disputes, upgrades): each is requested once a day and once a week after.
    recheck_terminal_after: list[float] = dataclasses.field(default_factory=lambda: [86400, 604800])
    report_timezone: str = "Asia/Kolkata"
    workers: int = 10
    max_requests_per_second: float = 0
    request_timeout: float = 30
    # Reports hold image URLs, not images: the documented sample is 1.5 KB, the demo's largest 5 KB, and
    # even a case with hundreds of entries stays far below 1 MB. 8 MiB leaves room for what no page shows,
    # while a broken or hostile answer costs at most workers x 8 MiB of memory.
    max_report_bytes: int = 8 * 1024 * 1024
    max_run_seconds: float = 600  # under a 10-minute cron period and the lock's hold on the next run
    max_attempts: int = 4
    max_retries_per_run: int = 200
    retry_base_delay: float = 1
    retry_max_delay: float = 60
    not_found_after_hours: float = 72
    lock_wait_seconds: float = 60
    # A cron run every 10 to 60 minutes: two hours without a good run is worth an alert.
    health_max_age_minutes: float = 120
    sla_days: dict[str, float] = dataclasses.field(
        default_factory=lambda: {
            "default": 7,
            "identity_aadhaar": 2,
            "identity_pan": 2,
            "criminal": 10,
            "court_record": 10,
            "employment": 14,
            "education": 14,
            "address": 10,
            "reference": 7,
            "social_media": 5,
            "drug_test": 5,
        }
    )
    # A few hundred: far below PostgreSQL's 1,600, and DuckDB adds columns one ALTER at a time.
    max_vendor_columns: int = 300
    pii: str = "keep"
    pii_salt: TSecretStrValue | None = None

    def on_resolved(self) -> None:
        """Range and shape checks dlt's type coercion does not make."""
        url = urlsplit(self.base_url or "")
        rate = self.max_requests_per_second
        checks = {
            "base_url": url.scheme in ("http", "https") and bool(url.hostname),
            "min_poll_interval": in_range(self.min_poll_interval, 0, MAX_SECONDS),
            "poll_intervals": bool(self.poll_intervals) and seconds_list(self.poll_intervals),
            "recheck_terminal_after": seconds_list(self.recheck_terminal_after),
            "workers": 1 <= self.workers <= MAX_WORKERS,
            "max_requests_per_second": rate == 0 or in_range(rate, MIN_REQUESTS_PER_SECOND, MAX_REQUESTS_PER_SECOND),
            "request_timeout": positive_seconds(self.request_timeout),
            "max_report_bytes": self.max_report_bytes >= MIN_REPORT_BYTES,
            "max_run_seconds": positive_seconds(self.max_run_seconds),
            "max_attempts": self.max_attempts >= 1,
            "max_retries_per_run": self.max_retries_per_run >= 0,
            "retry_base_delay": in_range(self.retry_base_delay, 0, MAX_SECONDS),
            "retry_max_delay": in_range(self.retry_max_delay, 0, MAX_SECONDS),
            "not_found_after_hours": in_range(self.not_found_after_hours, 0, MAX_SECONDS / 3600),
            "lock_wait_seconds": in_range(self.lock_wait_seconds, 0, MAX_SECONDS),
            "report_timezone": is_zone(self.report_timezone),
            "max_vendor_columns": 0 <= self.max_vendor_columns <= MAX_VENDOR_COLUMNS,
            "health_max_age_minutes": in_range(self.health_max_age_minutes, 0, MAX_SECONDS / 60)
            and self.health_max_age_minutes > 0,
            "pii": self.pii in PII_MODES,
            "sla_days": "default" in self.sla_days
            and all(in_range(v, 0, MAX_SECONDS / 86400) for v in self.sla_days.values()),
        }
        for key, ok in checks.items():
            if not ok:
                raise InvalidSetting(key, getattr(self, key))
        if url.scheme == "http" and not is_loopback_host(url.hostname):
            raise InvalidSetting(
                "base_url",
                self.base_url,
                "plain http:// would send the API key unencrypted; use https:// (http:// is accepted only for "
                "a loopback host: 127.0.0.0/8, ::1, localhost)",
            )
        if self.pii == "hash" and not self.pii_salt:
            raise ConfigurationError(
                'pii = "hash" needs a secret salt: set pii_salt under [sources.konnectnxt] in .dlt/secrets.toml '
                "or the env var SOURCES__KONNECTNXT__PII_SALT"
            )

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.report_timezone)

    def polling_rules(self, fold: Fold = identity) -> PollingRules:
        """The rules of what a fetch outcome means; `fold` names columns as the warehouse will."""
        return PollingRules(
            poll_intervals=self.poll_intervals,
            min_poll_interval=self.min_poll_interval,
            recheck_terminal_after=self.recheck_terminal_after,
            not_found_after=timedelta(hours=self.not_found_after_hours),
            report_timezone=self.timezone,
            pii=self.pii,
            pii_salt=self.pii_salt,
            fold=fold,
        )


def load_configuration(require_api_key: bool = True) -> KonnectNxtConfiguration:
    """Resolve and validate the configuration; any problem is one ConfigurationError line."""
    try:
        refuse_unreadable_settings()
        refuse_misplaced_secrets(SECTIONS, [key for key, setting in SETTINGS.items() if setting.secret])
        configuration = resolve_configuration(KonnectNxtConfiguration(), sections=SECTIONS)
    except TomlProviderReadException as exc:
        detail = " ".join(str(exc).splitlines()[1:]).strip() or "not valid TOML"
        raise ConfigurationError(f"{exc.file_name} cannot be read: {detail} (in {exc.full_paths[0]})") from None
    except InvalidSetting as exc:
        raise _malformed(exc.field_name, exc.value, exc.reason) from None
    except ConfigValueCannotBeCoercedException as exc:
        raise _malformed(exc.field_name) from None
    except ConfigurationValueError as exc:
        field_name = getattr(exc, "field_name", None)
        if field_name in SETTINGS:
            raise _malformed(field_name) from None
        raise ConfigurationError(f"{SECTION}: {exc}") from None
    register_secret(configuration.api_key)
    register_secret(configuration.pii_salt)
    if require_api_key and not configuration.api_key:
        raise ConfigurationError(
            "no API key: set api_key under [sources.konnectnxt] in .dlt/secrets.toml or the env var "
            "SOURCES__KONNECTNXT__API_KEY (or try the pipeline without a key: python pipelines/bgv.py --demo)"
        )
    return configuration


def warn_about_configuration(configuration: KonnectNxtConfiguration) -> list[str]:
    """Log, as one `bgv` warning line each, settings that work but are probably not meant; return the lines."""
    lines = unknown_key_warnings(SECTIONS, SETTINGS)
    if (interval := configuration.min_poll_interval) < VENDOR_MIN_POLL_INTERVAL:
        lines.append(
            f"{SECTION} min_poll_interval = {toml_value(interval)} is below {VENDOR_MIN_POLL_INTERVAL}: the vendor "
            f"asks for at most one request per case every {VENDOR_MIN_POLL_INTERVAL} seconds"
        )
    for line in lines:
        logger.warning("%s", line)
    return lines


def defaults() -> dict[str, Any]:
    """Every key's default value (None for secrets and keys without one)."""
    return {key: getattr(KonnectNxtConfiguration(), key) for key in SETTINGS}


def toml_value(value: Any) -> str:
    """A value as it is written in config.toml."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _malformed(key: str, value: object = None, reason: str | None = None) -> ConfigurationError:
    shown = "" if SETTINGS.get(key, Setting("", "")).secret or value is None else f" (got {value!r})"
    env = f"(env {ENV_PREFIX}{key.upper()})"
    if reason:
        return ConfigurationError(f"{SECTION} {key} cannot be used{shown}: {reason} {env}")
    expected = SETTINGS[key].expected if key in SETTINGS else "a valid value"
    return ConfigurationError(f"{SECTION} {key} is malformed{shown}: expected {expected} {env}")
