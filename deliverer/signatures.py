"""How FastHook signs deliveries: `x-fasthook-signature`, and the Standard Webhooks headers.

`x-fasthook-signature` (auth_type FASTHOOK_SIGNATURE), with the verifier receivers can copy.

Format: `t=<unix seconds>,v1=<hex>[,v1=<hex>]`, where each hex is
HMAC-SHA256(secret, "<t>." + raw body). The secret is the team's signing secret string used
as-is (UTF-8, `whsec_` prefix included). While a rotated secret is still valid, one `v1` is
sent per secret (current first), so a receiver holding either one keeps verifying.
The timestamp is signed too, so a captured delivery cannot be replayed after the tolerance.

Standard Webhooks (auth_type STANDARD_WEBHOOKS, https://www.standardwebhooks.com): `webhook-id`
(the event id), `webhook-timestamp` and `webhook-signature: v1,<base64>[ v1,<base64>]`, each
HMAC-SHA256(key, "<id>.<timestamp>." + raw body), so the `standardwebhooks` libraries verify
deliveries as is. The key is the base64-decoded part after `whsec_` (`standard_key`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time

from schemas.auth import DEFAULT_TOLERANCE_S, WHSEC_PREFIX

SIGNATURE_HEADER = "x-fasthook-signature"
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
STANDARD_HEADERS = frozenset({WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE})

_TIMESTAMP = re.compile(r"[0-9]{1,15}", re.ASCII)  # bounded: int() of huge digit strings is slow
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>." + body` under `secret`."""
    message = f"{timestamp}.".encode() + bytes(body)
    # hmac.digest: OpenSSL's one-shot HMAC, without an HMAC object per delivery.
    return hmac.digest(secret.encode(), message, "sha256").hex()


def signature_header(secrets: list[str], timestamp: int, body: bytes) -> str:
    """`t=<ts>,v1=<hex>[,v1=<hex>]`: one `v1` per distinct secret, in the given order.

    Raises ValueError without a secret: an unsigned header would fail every receiver's check
    with no hint why, so the caller must notice instead.
    """
    signed = [f"v1={sign(s, timestamp, body)}" for s in _distinct(secrets)]
    return ",".join([f"t={timestamp}", *signed])


def _distinct(secrets: list[str]) -> list[str]:
    distinct = list(dict.fromkeys(s for s in secrets if s))  # keeps the current secret first
    if not distinct:
        raise ValueError("signing needs at least one non-empty secret")
    return distinct


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key of a team signing secret.

    `whsec_` + standard base64 (every secret issued now): the decoded bytes, as the
    `standardwebhooks` libraries read it. Secrets issued before were `whsec_` + unpadded
    base64url, which no library decodes the same way (Python's drops `-` and `_`, Node's and
    Go's refuse it): for those the key is the whole string's UTF-8 bytes, the key
    `x-fasthook-signature` uses too, which every library takes as a raw key.
    """
    if secret.startswith(WHSEC_PREFIX):
        try:
            key = base64.b64decode(secret[len(WHSEC_PREFIX) :], validate=True)
        except binascii.Error:
            key = b""
        if key:
            return key
    return secret.encode()


def standard_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>." + body)>`."""
    message = f"{message_id}.{timestamp}.".encode() + bytes(body)
    digest = hmac.digest(key, message, "sha256")
    return "v1," + base64.b64encode(digest).decode("ascii")


def standard_headers(
    secrets: list[str], message_id: str, timestamp: int, body: bytes
) -> list[tuple[str, str]]:
    """`webhook-id`, `webhook-timestamp`, `webhook-signature` (one `v1,` entry per distinct
    secret, current first, space-separated). ValueError without a secret, as above."""
    signed = [
        standard_signature(standard_key(s), message_id, timestamp, body) for s in _distinct(secrets)
    ]
    return [
        (WEBHOOK_ID, message_id),
        (WEBHOOK_TIMESTAMP, str(timestamp)),
        (WEBHOOK_SIGNATURE, " ".join(signed)),
    ]


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
