"""`x-fasthook-signature`: how FastHook signs deliveries, and the verifier receivers can copy.

Format: `t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each hex is
HMAC-SHA256(secret, "<t>." + raw body). The secret is the team's signing secret string used
as-is (UTF-8, `whsec_` prefix included). While a rotated secret is still valid, one `v1` is
sent per secret (current first), so a receiver holding either one keeps verifying.
The timestamp is signed too, so a captured delivery cannot be replayed after the tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "x-fasthook-signature"
DEFAULT_TOLERANCE_S = 300  # as Stripe and Svix: generous for clock skew, short for replays

_TIMESTAMP = re.compile(r"[0-9]{1,15}", re.ASCII)  # bounded: int() of huge digit strings is slow
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>." + body` under `secret`."""
    message = f"{timestamp}.".encode() + bytes(body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<ts>,v1=<hex>[,v1=<hex>]`: one `v1` per distinct secret, in the given order.

    Raises ValueError without a secret: an unsigned header would fail every receiver's check
    with no hint why, so the caller must notice instead.
    """
    distinct = list(dict.fromkeys(s for s in secrets if s))  # keeps the current secret first
    if not distinct:
        raise ValueError("signing needs at least one non-empty secret")
    return ",".join([f"t={timestamp}", *(f"v1={sign(s, timestamp, body)}" for s in distinct)])


def _parse(header: str) -> tuple[int, list[str]] | None:
    """(t, [v1 …]) or None when the header is malformed. Unknown keys (a future `v2`) are
    skipped so old receivers keep working when a new scheme is added beside v1."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            continue
        value = value.strip()
        if key == "t":
            # Two timestamps are ambiguous: which one did the signer mean?
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                return None
            timestamp = int(value)
        elif key == "v1" and _HEX_SHA256.fullmatch(value):
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        return None
    return timestamp, candidates


def verify(
    header: str,
    secret: str,
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: int | None = None,
) -> bool:
    """Whether `header` is a valid `x-fasthook-signature` for `body` under `secret`.

    True when any `v1` matches (compared in constant time) and `t` is within `tolerance_s` of
    `now` (default: the current time) in either direction. Never raises on a malformed header:
    anything unparsable is simply not verified.
    """
    if not isinstance(header, str):
        return False
    parsed = _parse(header)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    # Check every candidate: which one matched must not show in the timing either.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    return matched
