"""Times as every record and answer writes them: RFC 3339, UTC, milliseconds, ``Z``."""

from __future__ import annotations

import time


def iso_ms(ms: int) -> str:
    """Unix milliseconds → ``2026-11-18T11:06:40.007Z`` (sorts as text in time order)."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def iso_or_none(ms: int | None) -> str | None:
    """``iso_ms``, or None where there is no time (an issue not resolved yet)."""
    return None if ms is None else iso_ms(ms)


def now_iso(now_s: float | None = None) -> str:
    """The time ``now_s`` (unix seconds, default now) as ``iso_ms``."""
    return iso_ms(int((time.time() if now_s is None else now_s) * 1000))
