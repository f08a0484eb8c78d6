"""Durations ("15m", "4h", "30d") and instants (ISO-8601) as the plan and the options write them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3660)  # ten years: longer is a typo, not a DR setting


def parse_duration(text: str) -> timedelta:
    """``"15m"`` -> 15 minutes. Raises ValueError with what is expected."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string like '15m', '4h' or '30d', got {text!r}")
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like '90s', '15m', '4h' or '30d', got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta | float) -> str:
    """A short human form: ``47 min``, ``3 h 05 min``, ``12 s``, ``2 d 4 h``."""
    seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{sign}{seconds:.0f} s" if seconds >= 10 else f"{sign}{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{sign}{minutes:.0f} min"
    hours, mins = divmod(int(round(minutes)), 60)
    if hours < 48:
        return f"{sign}{hours} h {mins:02d} min"
    days, hours = divmod(hours, 24)
    return f"{sign}{days} d {hours} h"


def parse_instant(text: str) -> datetime:
    """ISO-8601 to an aware UTC datetime; a naive time is taken as UTC."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected an ISO-8601 time like 2025-12-13T10:00:00Z, got {text!r}")
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError(f"expected an ISO-8601 time like 2025-12-13T10:00:00Z, got {text!r}") from None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(value: datetime, ms: bool = False) -> str:
    """The one form of an instant in every output: UTC, ``2026-11-30T10:03:46Z``; ``ms=True`` adds
    milliseconds (``2026-11-30T10:03:46.123Z``) where the order of close events matters (gate board).
    A naive datetime is taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    spec = "milliseconds" if ms else "seconds"
    return value.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")
