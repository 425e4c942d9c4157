"""Shape checks of configuration values that dlt's type coercion does not make (finite, in range, a zone)."""

import math
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Longer spans are typos: 10 years is far inside what timedelta, datetime, sleeps and socket timeouts hold.
MAX_SECONDS = 10 * 365 * 24 * 3600


def is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def in_range(value: object, low: float, high: float) -> bool:
    """A finite number from low to high: inf, NaN and 1e300 are not."""
    return is_number(value) and low <= value <= high


def positive_seconds(value: object) -> bool:
    return in_range(value, 0, MAX_SECONDS) and value > 0


def is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True
