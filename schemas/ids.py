"""Prefixed, time-sortable ids (ULID): ``req_01J…``.

Kept in the contract because every service mints ids that others parse and sort.
"""

from __future__ import annotations

import hashlib
import os
import re
import time

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = frozenset(
    {"tm", "key", "src", "des", "con", "req", "evt", "atm", "ign", "blk", "anl", "itr", "iss"}
)


# Every 10-bit value as its two digits: 13 lookups spell an id instead of 26 shifts.
_PAIRS = [CROCKFORD[i >> 5] + CROCKFORD[i & 31] for i in range(1024)]
_PAIR_SHIFTS = tuple(range(120, -1, -10))


# A random byte's low 5 bits as a digit: 16 random bytes spell the 80 random bits of a fresh id
# (each digit uniform, as 80 random bits are) without going through an int.
_RANDOM_DIGITS = (CROCKFORD * 8).encode()  # byte b → CROCKFORD[b % 32]
_TIME_SHIFTS = (40, 30, 20, 10, 0)
_TIME_LIMIT = 1 << 50  # ten digits' worth of milliseconds (year 37,648)
# (ms, its ten digits): ids minted in the same millisecond share them. One tuple, replaced
# whole, so a thread never reads one's ms with another's digits.
_last_time: tuple[int, str] = (-1, "")


def _time_digits(ms: int) -> str:
    global _last_time
    last_ms, digits = _last_time
    if ms != last_ms:
        digits = "".join([_PAIRS[(ms >> shift) & 1023] for shift in _TIME_SHIFTS])
        _last_time = (ms, digits)
    return digits


def ulid(now_ms: int | None = None, randomness: bytes | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if randomness is None and 0 <= ms < _TIME_LIMIT:
        # Every id a service mints: a third of the cost of the 130-bit spelling below.
        return _time_digits(ms) + os.urandom(16).translate(_RANDOM_DIGITS).decode("ascii")
    value = (ms << 80) | int.from_bytes(randomness or os.urandom(10), "big")
    if value >= 0:  # every real time
        return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])
    return _ulid_digits(value)


def _ulid_digits(value: int) -> str:
    """The low 130 bits of `value` (any int) as 26 Crockford digits."""
    chars = []
    for _ in range(26):
        chars.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, now_ms: int | None = None) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ulid(now_ms)}"


def derived_id(prefix: str, time_ms: int, *parts: str) -> str:
    """The same id every time for the same parts: what makes re-processing idempotent (a
    request routed twice after a crash yields the same event ids)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return f"{prefix}_{ulid(time_ms, digest[:10])}"


# Crockford's digits as the digits `int(_, 32)` reads (0-9, A-V), and what a time may hold.
_TO_BASE32 = str.maketrans(CROCKFORD, "0123456789ABCDEFGHIJKLMNOPQRSTUV")
_TIME_DIGITS = re.compile(f"[{CROCKFORD}]{{10}}")


def id_time_ms(value: str, fallback: int | None = None) -> int:
    """The creation time encoded in an id; for a string that is not one of our ids,
    ``fallback`` when given, else ValueError."""
    body = value.rsplit("_", 1)[-1][:10].upper()
    if _TIME_DIGITS.fullmatch(body) is None:
        if fallback is None:
            raise ValueError(f"not an id with a time: {value!r}")
        return fallback
    return int(body.translate(_TO_BASE32), 32)
