"""What every source verifier shares: the request it checks, its verdict, and the small
checks each scheme repeats (reading headers and config, timestamps within a tolerance).

Pure (stdlib only). Error contract of every verifier: a broken source config raises
``ValueError`` (an operator bug that must surface loudly); anything a request controls can only
produce ``Verification(verified=False, detail=...)``, so hostile input earns a 401, never a 500.
``detail`` never echoes a secret or a presented credential.
"""

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Epoch seconds stay below 1e11 until the year 5138, so anything larger is milliseconds.
_MILLISECONDS_THRESHOLD = 10**11


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    method: str
    # Exact URL the provider called, raw query as sent: providers sign these bytes.
    public_url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Verification:
    # "NONE" | "BASIC_AUTH" | "API_KEY" | "HMAC" | "TWILIO" | a provider preset's auth_type
    method: str
    verified: bool
    detail: str | None


def header_get(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """First value of header ``name`` (case-insensitive), or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def fail(method: str, detail: str) -> Verification:
    return Verification(method, False, detail)


def utf8(text: str) -> bytes:
    # surrogatepass: header values decoded with surrogateescape must compare unequal, not raise.
    return text.encode("utf-8", "surrogatepass")


def require(auth: Mapping[str, Any], key: str, kind: str, *, allow_empty: bool = False) -> str:
    value = auth.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ValueError(f"{kind} auth config needs a string {key!r}")
    return value


def optional(auth: Mapping[str, Any], key: str, kind: str, default: str) -> str:
    value = auth.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ValueError(f"{kind} auth config {key!r} must be a string")
    return value


def epoch_seconds(stamp: str) -> int | None:
    """A timestamp header as unix seconds (milliseconds accepted), or None when it is not one."""
    # isascii: str.isdigit() also accepts digits such as "²" that int() rejects.
    # Length cap: int() refuses over 4300 digits, and no real timestamp needs 20.
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 20:
        return None
    seconds = int(stamp)
    return seconds // 1000 if seconds > _MILLISECONDS_THRESHOLD else seconds


def timestamp_problem(
    stamp: str, tolerance: float, now: float, name: str = "timestamp header"
) -> str | None:
    seconds = epoch_seconds(stamp)
    if seconds is None:
        return f"{name} is not an integer"
    if abs(now - seconds) > tolerance:
        return f"timestamp outside the {tolerance:g}s tolerance"
    return None


def matches_any(expected: bytes, presented: Iterable[bytes]) -> bool:
    """Whether any presented signature is `expected` (several while a secret rotates)."""
    matched = False
    for candidate in presented:  # no early exit: timing must not reveal which entry matched
        matched |= hmac.compare_digest(candidate, expected)
    return matched
