"""Provider presets: each verifies a source request exactly as the provider's own SDK does
(Stripe, Slack, Standard Webhooks) or as its documentation tells receivers to (GitHub, Shopify).

Every comparison is constant-time over all presented signatures (no early exit), a validly
signed request whose timestamp is outside the source's tolerance is refused as a replay, and the
signature headers are evidence, not credentials: they stay in the stored and delivered request
so a receiver can verify again with the same SDK.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from ingress.verification import (
    IncomingRequest,
    Verification,
    epoch_seconds,
    fail,
    header_get,
    matches_any,
    require,
    timestamp_problem,
    utf8,
)
from schemas.auth import DEFAULT_TOLERANCE_S, whsec_key

STRIPE_SIGNATURE_HEADER = "Stripe-Signature"
GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
SHOPIFY_SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
SLACK_SIGNATURE_HEADER = "X-Slack-Signature"
SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"

Verifier = Callable[[Mapping[str, Any], IncomingRequest, float], Verification]


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _tolerance(auth: Mapping[str, Any], kind: str) -> int:
    tolerance = auth.get("tolerance_s", DEFAULT_TOLERANCE_S)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 1:
        raise ValueError(f"{kind} auth config 'tolerance_s' must be a positive integer")
    return tolerance


def _verified(kind: str, matched: bool) -> Verification:
    return Verification(kind, True, None) if matched else fail(kind, "signature mismatch")


def _verify_stripe(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    # Mirrors stripe.WebhookSignature.verify_header: "t=<unix>,v1=<hex>[,v1=…]" over "t.body";
    # other schemes (v0) are ignored; only a timestamp older than the tolerance is refused.
    secret = utf8(require(auth, "webhook_secret_key", "STRIPE"))
    tolerance = _tolerance(auth, "STRIPE")
    header = header_get(request.headers, STRIPE_SIGNATURE_HEADER)
    if header is None:
        return fail("STRIPE", f"missing {STRIPE_SIGNATURE_HEADER} header")
    items = [item.split("=", 1) for item in header.split(",")]
    stamps = [pair[1] for pair in items if len(pair) == 2 and pair[0] == "t"]
    signatures = [utf8(pair[1]) for pair in items if len(pair) == 2 and pair[0] == "v1"]
    if not stamps or epoch_seconds(stamps[0]) is None:
        return fail("STRIPE", f"no integer t= timestamp in {STRIPE_SIGNATURE_HEADER}")
    if not signatures:
        return fail("STRIPE", f"no v1 signature in {STRIPE_SIGNATURE_HEADER}")
    expected = _mac(secret, utf8(stamps[0]) + b"." + request.body).hex().encode()
    if not matches_any(expected, signatures):
        return fail("STRIPE", "signature mismatch")
    if int(stamps[0]) < now - tolerance:
        return fail("STRIPE", f"timestamp older than the {tolerance}s tolerance")
    return Verification("STRIPE", True, None)


def _body_signature(kind: str, header_name: str, render: Callable[[bytes], bytes]) -> Verifier:
    """GitHub's and Shopify's scheme: one header, ``render`` of the HMAC-SHA256 of the body,
    compared as text as their documentation's recipes do."""

    def verify_body(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
        secret = utf8(require(auth, "webhook_secret_key", kind))
        header = header_get(request.headers, header_name)
        if header is None:
            return fail(kind, f"missing {header_name} header")
        expected = render(_mac(secret, request.body))
        return _verified(kind, hmac.compare_digest(expected, utf8(header)))

    return verify_body


def _verify_slack(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    # Mirrors slack_sdk.signature.SignatureVerifier: "v0=<hex>" over "v0:<timestamp>:<body>".
    secret = utf8(require(auth, "signing_secret", "SLACK"))
    tolerance = _tolerance(auth, "SLACK")
    signature = header_get(request.headers, SLACK_SIGNATURE_HEADER)
    if signature is None:
        return fail("SLACK", f"missing {SLACK_SIGNATURE_HEADER} header")
    stamp = header_get(request.headers, SLACK_TIMESTAMP_HEADER)
    if stamp is None:
        return fail("SLACK", f"missing {SLACK_TIMESTAMP_HEADER} header")
    problem = timestamp_problem(stamp, tolerance, now, SLACK_TIMESTAMP_HEADER)
    if problem is not None:
        return fail("SLACK", problem)
    expected = b"v0=" + _mac(secret, b"v0:" + utf8(stamp) + b":" + request.body).hex().encode()
    return _verified("SLACK", hmac.compare_digest(expected, utf8(signature)))


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the optional `whsec_`."""
    try:
        return whsec_key(secret)
    except ValueError as exc:  # a config bug: raised every time, like any other
        raise ValueError(f"STANDARD_WEBHOOKS webhook_secret_key {exc}") from None


def _verify_standard(auth: Mapping[str, Any], request: IncomingRequest, now: float) -> Verification:
    # Mirrors standardwebhooks.Webhook.verify: "v1,<base64>" entries separated by spaces, over
    # "<webhook-id>.<webhook-timestamp>.<body>", the timestamp within the tolerance both ways.
    key = standard_webhooks_key(require(auth, "webhook_secret_key", "STANDARD_WEBHOOKS"))
    tolerance = _tolerance(auth, "STANDARD_WEBHOOKS")
    msg_id, stamp, signatures = (
        header_get(request.headers, name)
        for name in (STANDARD_ID_HEADER, STANDARD_TIMESTAMP_HEADER, STANDARD_SIGNATURE_HEADER)
    )
    if not msg_id:
        return fail("STANDARD_WEBHOOKS", f"missing {STANDARD_ID_HEADER} header")
    if not stamp:
        return fail("STANDARD_WEBHOOKS", f"missing {STANDARD_TIMESTAMP_HEADER} header")
    if not signatures:
        return fail("STANDARD_WEBHOOKS", f"missing {STANDARD_SIGNATURE_HEADER} header")
    problem = timestamp_problem(stamp, tolerance, now, STANDARD_TIMESTAMP_HEADER)
    if problem is not None:
        return fail("STANDARD_WEBHOOKS", problem)
    presented = [
        decoded for entry in signatures.split(" ") if (decoded := _v1_signature(entry)) is not None
    ]
    if not presented:
        return fail("STANDARD_WEBHOOKS", f"no v1 signature in {STANDARD_SIGNATURE_HEADER}")
    expected = _mac(key, utf8(msg_id) + b"." + utf8(stamp) + b"." + request.body)
    return _verified("STANDARD_WEBHOOKS", matches_any(expected, presented))


def _v1_signature(entry: str) -> bytes | None:
    version, separator, encoded = entry.partition(",")
    if version != "v1" or not separator:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None


PRESET_VERIFIERS: dict[str, Verifier] = {
    "STRIPE": _verify_stripe,
    "GITHUB": _body_signature(
        "GITHUB", GITHUB_SIGNATURE_HEADER, lambda mac: b"sha256=" + mac.hex().encode()
    ),
    "SHOPIFY": _body_signature("SHOPIFY", SHOPIFY_SIGNATURE_HEADER, base64.b64encode),
    "SLACK": _verify_slack,
    "STANDARD_WEBHOOKS": _verify_standard,
}
