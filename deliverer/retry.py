"""Retry decisions for a connection's `retry` rule: whether, when, and on which delay tier.

Pure functions of the rule, the failed attempt and the clock. The status code language is
the contract's (`schemas/status_codes.py`), the same one the API validates with.

Retry-After decision: the strategy's delay is the floor, the receiver may only ask for more.
A Retry-After larger than the strategy's delay is honoured up to the smaller of 1 hour and
10x that delay; a smaller one never shortens the schedule. So a struggling receiver gets the
breathing room it asks for, while a buggy or hostile one (`Retry-After: 31536000`) cannot park
events for days: the whole retry window stays within 10x of what the user configured.
"""

from __future__ import annotations

import math
import re
from email.utils import parsedate_to_datetime
from typing import Any

from schemas.status_codes import status_matches
from schemas.topics import RETRY_TIERS_MS

MAX_DELAY_MS = 24 * 60 * 60 * 1000  # exponential growth stops at one day
RETRY_AFTER_MAX_MS = 60 * 60 * 1000
RETRY_AFTER_MAX_FACTOR = 10
DEFAULT_INTERVAL_MS = 60_000  # the API's default for `interval`


def should_retry(rule: dict[str, Any] | None, status: int | None, error_code: str | None) -> bool:
    """Whether a failed attempt goes on the retry schedule (attempts left: `next_delay_ms`).

    No rule: never (nothing is retried automatically). A transport error (no status:
    timeout, refused, DNS, TLS, blocked, ... `error_code` says which): always, since the
    receiver never answered. A 2xx: never. Otherwise as `status_matches` says; should stored
    expressions be invalid (the API rejects them, so only a corrupt record), the default
    "any non-2xx" applies rather than stopping retries on a bad record.
    """
    if rule is None:
        return False
    if status is None:
        return True
    if 200 <= status <= 299:
        return False
    try:
        return status_matches(rule.get("response_status_codes"), status)
    except ValueError:
        return True


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """A `Retry-After` value in seconds from `now_s`: delay-seconds or an HTTP-date (the
    IMF-fixdate, or any date format `email.utils` reads). A past date or a negative number
    gives 0; anything unreadable gives None. Never raises."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"-?[0-9]+", text, re.ASCII):
        digits = text.lstrip("-")
        # Beyond 15 digits it is "much later" anyway; int() of huge strings would be slow.
        seconds = float(int(digits)) if len(digits) <= 15 else 1e15
        return 0.0 if text.startswith("-") else seconds
    try:
        when = parsedate_to_datetime(text)
        return max(0.0, when.timestamp() - now_s)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def strategy_delay_ms(rule: dict[str, Any], retry_number: int) -> int:
    """The strategy's delay before retry `retry_number` (1 = the first retry)."""
    interval = max(0, int(rule.get("interval", DEFAULT_INTERVAL_MS)))
    strategy = rule.get("strategy")
    if strategy == "linear":
        return min(interval, MAX_DELAY_MS)
    if strategy == "exponential":
        # Capping the exponent first keeps 2**n small for count up to 50 and beyond.
        return min(interval * (1 << min(max(retry_number - 1, 0), 64)), MAX_DELAY_MS)
    raise ValueError(f"unknown retry strategy {strategy!r}: expected linear or exponential")


def next_delay_ms(
    rule: dict[str, Any], attempt_number: int, retry_after: str | None, now_s: float
) -> int | None:
    """Milliseconds until the next attempt after attempt `attempt_number` (1 = the initial
    one) failed, or None when the rule's `count` retries are used up (count 5: at most 6
    attempts in all).

    linear: `interval` every time; exponential: `interval * 2**(n-1)` before retry n, capped
    at 24 h. `retry_after` (the response's header) can lengthen that delay, never shorten it:
    up to min(1 h, 10x the strategy's delay), see the module docstring.
    """
    retry_number = max(1, attempt_number)
    if retry_number > int(rule.get("count", 0)):
        return None
    delay = strategy_delay_ms(rule, retry_number)
    seconds = parse_retry_after(retry_after, now_s)
    if seconds is not None:
        ceiling = min(RETRY_AFTER_MAX_MS, RETRY_AFTER_MAX_FACTOR * delay)
        asked = math.ceil(min(seconds, RETRY_AFTER_MAX_MS / 1000) * 1000)
        delay = max(delay, min(asked, ceiling))
    return delay


def tier_for(delay_ms: int) -> int | None:
    """Delayed topics (`fasthook.retry.<tier>`, the catalog's RETRY_TIERS_MS): a retry waits on
    the largest tier not after its due time, then in memory for the rest.

    The largest tier in RETRY_TIERS_MS not longer than `delay_ms`; None below the smallest (the
    caller waits in memory). 7 s → 5 s, 2 h → 1 h, 4 s → None."""
    fitting = [tier for tier in RETRY_TIERS_MS if tier <= delay_ms]
    return fitting[-1] if fitting else None
