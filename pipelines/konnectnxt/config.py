"""The `[sources.konnectnxt]` configuration, resolved by dlt from config.toml, secrets.toml and env."""

import dataclasses
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.exceptions import ConfigurationValueError, ConfigValueCannotBeCoercedException
from dlt.common.configuration.providers.toml import TomlProviderReadException
from dlt.common.configuration.specs import BaseConfiguration
from dlt.common.typing import TSecretStrValue

from . import settings as defaults
from .errors import ConfigurationError
from .pii import PII_MODES
from .redaction import register_secret

SECTION = "[sources.konnectnxt]"

# What each key expects, for the one-line message about a malformed value.
EXPECTED = {
    "api_key": "the KonnectNXT API key as a string",
    "base_url": "an http(s) URL such as https://bgv.konnectnxt.com/api",
    "case_ids": 'a list of case ids, e.g. ["a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"] (JSON in env)',
    "min_poll_interval": "a number of seconds >= 0",
    "poll_intervals": "a non-empty list of positive numbers of seconds, e.g. [30, 60, 300] (JSON in env)",
    "report_timezone": "an IANA time zone name such as Asia/Kolkata",
    "workers": "a whole number >= 1",
    "max_requests_per_second": "a number >= 0 (0 = no limit)",
    "request_timeout": "a number of seconds > 0",
    "max_attempts": "a whole number >= 1",
    "max_retries_per_run": "a whole number >= 0",
    "retry_base_delay": "a number of seconds >= 0",
    "retry_max_delay": "a number of seconds >= 0",
    "not_found_after_hours": "a number of hours >= 0",
    "lock_wait_seconds": "a number of seconds >= 0",
    "pii": "one of keep, hash, drop",
    "sla_days": 'a table of check type to days >= 0 with a "default" key, e.g. {default = 7, criminal = 10}',
}


@configspec
class KonnectNxtConfiguration(BaseConfiguration):
    """Every setting of the source; env `SOURCES__KONNECTNXT__<KEY>` overrides the toml files."""

    api_key: TSecretStrValue | None = None
    base_url: str = defaults.BASE_URL
    case_ids: list[str] = dataclasses.field(default_factory=list)
    min_poll_interval: float = defaults.MIN_POLL_INTERVAL
    poll_intervals: list[float] = dataclasses.field(default_factory=lambda: list(defaults.POLL_INTERVALS))
    report_timezone: str = defaults.REPORT_TIMEZONE
    workers: int = defaults.WORKERS
    max_requests_per_second: float = 0
    request_timeout: float = defaults.REQUEST_TIMEOUT
    max_attempts: int = defaults.MAX_ATTEMPTS
    max_retries_per_run: int = defaults.MAX_RETRIES_PER_RUN
    retry_base_delay: float = defaults.RETRY_BASE_DELAY
    retry_max_delay: float = defaults.RETRY_MAX_DELAY
    not_found_after_hours: float = defaults.NOT_FOUND_AFTER_HOURS
    lock_wait_seconds: float = defaults.LOCK_WAIT_SECONDS
    sla_days: dict[str, float] = dataclasses.field(default_factory=lambda: dict(defaults.SLA_DAYS))
    pii: str = "keep"
    pii_salt: TSecretStrValue | None = None

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.report_timezone)


def load_configuration(require_api_key: bool = True) -> KonnectNxtConfiguration:
    """Resolve and validate the configuration; any problem is one ConfigurationError line."""
    try:
        configuration = resolve_configuration(KonnectNxtConfiguration(), sections=("sources", "konnectnxt"))
    except TomlProviderReadException as exc:
        detail = " ".join(str(exc).splitlines()[1:]).strip() or "not valid TOML"
        raise ConfigurationError(f"{exc.file_name} cannot be read: {detail} (in {exc.full_paths[0]})") from None
    except ConfigValueCannotBeCoercedException as exc:
        raise _malformed(exc.field_name) from None
    except ConfigurationValueError as exc:
        field_name = getattr(exc, "field_name", None)
        if field_name in EXPECTED:
            raise _malformed(field_name) from None
        raise ConfigurationError(f"{SECTION}: {exc}") from None
    register_secret(configuration.api_key)
    register_secret(configuration.pii_salt)
    if require_api_key and not configuration.api_key:
        raise ConfigurationError(
            "no API key: set api_key under [sources.konnectnxt] in .dlt/secrets.toml or the env var "
            "SOURCES__KONNECTNXT__API_KEY (or try the pipeline without a key: python pipelines/bgv.py --demo)"
        )
    validate(configuration)
    return configuration


def validate(configuration: KonnectNxtConfiguration) -> None:
    """Range and shape checks dlt's type coercion does not make."""
    c = configuration
    url = urlsplit(c.base_url or "")
    checks = [
        ("base_url", url.scheme in ("http", "https") and bool(url.netloc)),
        ("min_poll_interval", c.min_poll_interval >= 0),
        ("poll_intervals", bool(c.poll_intervals) and all(_is_number(v) and v > 0 for v in c.poll_intervals)),
        ("workers", c.workers >= 1),
        ("max_requests_per_second", c.max_requests_per_second >= 0),
        ("request_timeout", c.request_timeout > 0),
        ("max_attempts", c.max_attempts >= 1),
        ("max_retries_per_run", c.max_retries_per_run >= 0),
        ("retry_base_delay", c.retry_base_delay >= 0),
        ("retry_max_delay", c.retry_max_delay >= 0),
        ("not_found_after_hours", c.not_found_after_hours >= 0),
        ("lock_wait_seconds", c.lock_wait_seconds >= 0),
        ("report_timezone", _is_zone(c.report_timezone)),
        ("pii", c.pii in PII_MODES),
        ("sla_days", "default" in c.sla_days and all(_is_number(v) and v >= 0 for v in c.sla_days.values())),
    ]
    for key, ok in checks:
        if not ok:
            raise _malformed(key, getattr(c, key))
    if c.pii == "hash" and not c.pii_salt:
        raise ConfigurationError(
            'pii = "hash" needs a secret salt: set pii_salt under [sources.konnectnxt] in .dlt/secrets.toml '
            "or the env var SOURCES__KONNECTNXT__PII_SALT"
        )


def _malformed(key: str, value: object = None) -> ConfigurationError:
    shown = "" if key == "api_key" or value is None else f" (got {value!r})"
    return ConfigurationError(
        f"{SECTION} {key} is malformed{shown}: expected {EXPECTED.get(key, 'a valid value')} "
        f"(env SOURCES__KONNECTNXT__{key.upper()})"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True
