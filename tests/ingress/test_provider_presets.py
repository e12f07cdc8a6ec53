"""Provider presets verify exactly what each provider's own library signs (Stripe, Slack and
Standard Webhooks SDKs; GitHub's and Shopify's documented recipes), and refuse a changed body
byte, a wrong secret or a stale timestamp with a detail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.signature import Clock, SignatureVerifier
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ingress.signatures import IncomingRequest, credential_header, verify

STRIPE_SECRET = "whsec_test_0123456789abcdef"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GITHUB_SECRET = "It's a Secret to Everybody"
SHOPIFY_SECRET = "shpss_0123456789abcdef"
SW_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded","amount":2000,"name":"Z\xc3\xbcrich"}'
NOW = 1_760_000_000.0
TOLERANCE = 300

texts = st.text(max_size=300)
# No whitespace-only secrets (U+0085, U+00A0, U+2000…): slack_sdk strips and refuses them.
secrets_ = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Zs", "Zl", "Zp", "Cc")
    ),
    min_size=1,
    max_size=64,
)
# Offsets from now away from the tolerance edge: the SDKs read the clock themselves.
offsets = st.one_of(
    st.integers(-TOLERANCE + 5, TOLERANCE - 5),
    st.integers(TOLERANCE + 5, 10 * TOLERANCE),
    st.integers(-10 * TOLERANCE, -TOLERANCE - 5),
)


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def incoming(headers: list[tuple[str, str]], body: bytes) -> IncomingRequest:
    return IncomingRequest("POST", "https://hooks.example.com/src_x", tuple(headers), body)


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, stamp: int = int(NOW)):
    signature = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, stamp)
    return [("Stripe-Signature", signature)]


def github_headers(body: bytes, secret: str = GITHUB_SECRET):
    # GitHub's documented recipe ("Validating webhook deliveries").
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return [("X-Hub-Signature-256", "sha256=" + digest), ("X-GitHub-Event", "push")]


def shopify_headers(body: bytes, secret: str = SHOPIFY_SECRET):
    # Shopify's documented recipe ("Verify a webhook").
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return [("X-Shopify-Hmac-Sha256", base64.b64encode(digest).decode())]


def slack_headers(body: bytes, secret: str = SLACK_SECRET, stamp: int = int(NOW)):
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(stamp), body=body)
    return [("X-Slack-Request-Timestamp", str(stamp)), ("X-Slack-Signature", signature)]


def sw_headers(body: bytes, secret: str = SW_SECRET, stamp: int = int(NOW), msg_id="msg_1"):
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode())
    return [
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(stamp)),
        ("webhook-signature", signature),
    ]


PRESETS = {
    "STRIPE": (
        {"webhook_secret_key": STRIPE_SECRET, "tolerance_s": TOLERANCE},
        stripe_headers,
        {"secret": "whsec_other"},
    ),
    "GITHUB": ({"webhook_secret_key": GITHUB_SECRET}, github_headers, {"secret": "other"}),
    "SHOPIFY": ({"webhook_secret_key": SHOPIFY_SECRET}, shopify_headers, {"secret": "other"}),
    "SLACK": (
        {"signing_secret": SLACK_SECRET, "tolerance_s": TOLERANCE},
        slack_headers,
        {"secret": "other"},
    ),
    "STANDARD_WEBHOOKS": (
        {"webhook_secret_key": SW_SECRET, "tolerance_s": TOLERANCE},
        sw_headers,
        {"secret": "whsec_" + base64.b64encode(b"x" * 32).decode()},
    ),
}
TIMED = ("STRIPE", "SLACK", "STANDARD_WEBHOOKS")


@pytest.mark.parametrize("kind", PRESETS)
def test_a_request_signed_by_the_provider_is_accepted(kind):
    auth, sign, _ = PRESETS[kind]
    result = verify(kind, auth, incoming(sign(BODY), BODY), now=NOW)
    assert (result.method, result.verified, result.detail) == (kind, True, None)


@pytest.mark.parametrize("kind", PRESETS)
def test_a_changed_body_byte_is_rejected_with_a_detail(kind):
    auth, sign, _ = PRESETS[kind]
    changed = BODY.replace(b"2000", b"2001")
    result = verify(kind, auth, incoming(sign(BODY), changed), now=NOW)
    assert (result.method, result.verified) == (kind, False)
    assert result.detail == "signature mismatch"


@pytest.mark.parametrize("kind", PRESETS)
def test_a_wrong_secret_is_rejected_with_a_detail(kind):
    auth, sign, wrong = PRESETS[kind]
    result = verify(kind, auth, incoming(sign(BODY, **wrong), BODY), now=NOW)
    assert (result.verified, result.detail) == (False, "signature mismatch")


@pytest.mark.parametrize("kind", PRESETS)
def test_a_missing_signature_header_is_rejected_naming_it(kind):
    auth, sign, _ = PRESETS[kind]
    headers = sign(BODY)
    signature_name = {
        "STRIPE": "Stripe-Signature",
        "GITHUB": "X-Hub-Signature-256",
        "SHOPIFY": "X-Shopify-Hmac-Sha256",
        "SLACK": "X-Slack-Signature",
        "STANDARD_WEBHOOKS": "webhook-signature",
    }[kind]
    without = [(k, v) for k, v in headers if k != signature_name]
    result = verify(kind, auth, incoming(without, BODY), now=NOW)
    assert (result.verified, result.detail) == (False, f"missing {signature_name} header")


@pytest.mark.parametrize("kind", TIMED)
def test_a_validly_signed_but_expired_request_is_a_replay(kind):
    auth, sign, _ = PRESETS[kind]
    stale = int(NOW) - TOLERANCE - 1
    result = verify(kind, auth, incoming(sign(BODY, stamp=stale), BODY), now=NOW)
    assert result.verified is False
    assert result.detail is not None and f"{TOLERANCE}s tolerance" in result.detail


@pytest.mark.parametrize("kind", TIMED)
def test_tolerance_is_the_sources_own(kind):
    auth, sign, _ = PRESETS[kind]
    stamp = int(NOW) - 600
    assert not verify(kind, auth, incoming(sign(BODY, stamp=stamp), BODY), now=NOW).verified
    relaxed = {**auth, "tolerance_s": 900}
    assert verify(kind, relaxed, incoming(sign(BODY, stamp=stamp), BODY), now=NOW).verified


def test_stripe_accepts_any_of_several_v1_signatures_as_during_rotation():
    old = stripe_headers(BODY, secret="whsec_old")[0][1]
    new = stripe_headers(BODY)[0][1]
    header = old + "," + new.split(",", 1)[1] + ",v0=ignored"
    assert verify(
        "STRIPE", PRESETS["STRIPE"][0], incoming([("stripe-signature", header)], BODY), now=NOW
    ).verified


def test_standard_webhooks_accepts_any_of_several_signatures_as_during_rotation():
    other = "whsec_" + base64.b64encode(b"y" * 24).decode()
    rotated = sw_headers(BODY, secret=other)[2][1]
    headers = sw_headers(BODY)
    headers[2] = ("webhook-signature", f"{rotated} v2,abc {headers[2][1]}")
    assert verify(
        "STANDARD_WEBHOOKS", PRESETS["STANDARD_WEBHOOKS"][0], incoming(headers, BODY), now=NOW
    ).verified


def test_standard_webhooks_signs_the_message_id_too():
    headers = sw_headers(BODY)
    headers[0] = ("webhook-id", "msg_2")
    result = verify(
        "STANDARD_WEBHOOKS", PRESETS["STANDARD_WEBHOOKS"][0], incoming(headers, BODY), now=NOW
    )
    assert (result.verified, result.detail) == (False, "signature mismatch")


@pytest.mark.parametrize(
    ("kind", "header", "value"),
    [
        ("STRIPE", "Stripe-Signature", "t=abc,v1=00"),
        ("STRIPE", "Stripe-Signature", "v1=00"),
        ("STRIPE", "Stripe-Signature", "t=1760000000"),
        ("SLACK", "X-Slack-Request-Timestamp", "soon"),
        ("STANDARD_WEBHOOKS", "webhook-timestamp", "1760000000.5"),
        ("STANDARD_WEBHOOKS", "webhook-signature", "v1,%%% v1"),
        ("GITHUB", "X-Hub-Signature-256", "sha1=00"),
        ("SHOPIFY", "X-Shopify-Hmac-Sha256", "\udcff"),
    ],
)
def test_malformed_headers_earn_a_401_with_a_detail_never_an_error(kind, header, value):
    auth, sign, _ = PRESETS[kind]
    headers = [(k, value if k.lower() == header.lower() else v) for k, v in sign(BODY)]
    result = verify(kind, auth, incoming(headers, BODY), now=NOW)
    assert result.verified is False and result.detail


@pytest.mark.parametrize(
    ("kind", "auth"),
    [
        ("STRIPE", {"tolerance_s": 300}),
        ("SLACK", {"webhook_secret_key": "x"}),
        ("STANDARD_WEBHOOKS", {"webhook_secret_key": "whsec_%%%"}),
        ("STRIPE", {"webhook_secret_key": "x", "tolerance_s": "300"}),
    ],
)
def test_a_broken_source_config_raises(kind, auth):
    with pytest.raises(ValueError, match=kind):
        verify(kind, auth, incoming([], BODY), now=NOW)


@pytest.mark.parametrize("kind", PRESETS)
def test_preset_signatures_are_evidence_not_credentials(kind):
    # Kept byte for byte in the stored and delivered request, so a receiver verifies again.
    assert credential_header(kind, PRESETS[kind][0]) is None


# --- properties: the verifier agrees with the provider's own verifier ---------------------


@settings(max_examples=150, deadline=None)
@given(body=texts, secret=secrets_, other=secrets_, offset=offsets)
def test_stripe_agrees_with_stripe_sdk(body, secret, other, offset):
    now = time.time()
    stamp = int(now) + offset
    header = stripe.WebhookSignature.generate_signature_header(body, secret, stamp)
    auth = {"webhook_secret_key": other, "tolerance_s": TOLERANCE}
    ours = verify("STRIPE", auth, incoming([("Stripe-Signature", header)], body.encode()), now=now)
    try:
        theirs = stripe.WebhookSignature.verify_header(body, header, other, TOLERANCE)
    except stripe.SignatureVerificationError:
        theirs = False
    assert ours.verified == theirs
    if secret == other and offset > -TOLERANCE:
        assert ours.verified


@settings(max_examples=150, deadline=None)
@given(body=texts, secret=secrets_, offset=offsets, data=st.data())
def test_slack_agrees_with_slack_sdk(body, secret, offset, data):
    stamp = str(int(NOW) + offset)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    other = data.draw(st.one_of(st.just(secret), secrets_))
    headers = [("X-Slack-Request-Timestamp", stamp), ("X-Slack-Signature", signature)]
    auth = {"signing_secret": other, "tolerance_s": TOLERANCE}
    ours = verify("SLACK", auth, incoming(headers, body.encode()), now=NOW)
    theirs = SignatureVerifier(other, clock=FixedClock(NOW)).is_valid(body, stamp, signature)
    assert ours.verified == theirs
    assert ours.verified == (other == secret and abs(offset) <= TOLERANCE)


@settings(max_examples=150, deadline=None)
@given(
    body=texts,
    key=st.binary(min_size=1, max_size=64),
    other=st.binary(min_size=1, max_size=64),
    offset=offsets,
    msg_id=st.from_regex(r"msg_[0-9A-Za-z]{1,30}", fullmatch=True),
)
def test_standard_webhooks_agrees_with_the_standard_webhooks_library(
    body, key, other, offset, msg_id
):
    now = time.time()
    stamp = int(now) + offset
    secret = "whsec_" + base64.b64encode(key).decode()
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }
    verifier_secret = "whsec_" + base64.b64encode(other).decode()
    auth = {"webhook_secret_key": verifier_secret, "tolerance_s": TOLERANCE}
    ours = verify(
        "STANDARD_WEBHOOKS", auth, incoming(list(headers.items()), body.encode()), now=now
    )
    try:
        Webhook(verifier_secret).verify(body, headers, json_parse=False)
        theirs = True
    except WebhookVerificationError:
        theirs = False
    assert ours.verified == theirs
    assert ours.verified == (key == other and abs(offset) <= TOLERANCE)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=300),
    secret=secrets_,
    kind=st.sampled_from(["GITHUB", "SHOPIFY"]),
    data=st.data(),
)
def test_github_and_shopify_accept_exactly_the_documented_recipe(body, secret, kind, data):
    sign = github_headers if kind == "GITHUB" else shopify_headers
    auth = {"webhook_secret_key": secret}
    assert verify(kind, auth, incoming(sign(body, secret), body)).verified
    changed = data.draw(st.binary(max_size=300).filter(lambda b: b != body))
    assert not verify(kind, auth, incoming(sign(body, secret), changed)).verified
    other = data.draw(secrets_.filter(lambda s: s != secret))
    assert not verify(kind, auth, incoming(sign(body, other), body)).verified


@settings(max_examples=100, deadline=None)
@given(
    body=st.binary(min_size=1, max_size=300), kind=st.sampled_from(list(PRESETS)), data=st.data()
)
def test_any_changed_byte_is_rejected(body, kind, data):
    auth, sign, _ = PRESETS[kind]
    text_body = body.decode("latin-1").encode()  # the SDK signers take text
    headers = sign(text_body)
    index = data.draw(st.integers(0, len(text_body) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(text_body)
    changed[index] ^= flip
    result = verify(kind, auth, incoming(headers, bytes(changed)), now=NOW)
    assert (result.verified, result.detail) == (False, "signature mismatch")
