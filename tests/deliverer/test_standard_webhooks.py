"""Outgoing signatures against the receivers' off-the-shelf verifiers.

STANDARD_WEBHOOKS headers are checked by the `standardwebhooks` library itself, and
`x-fasthook-signature` by Stripe's `WebhookSignature.verify_header`: for random secrets, bodies
and timestamps, each verifier accepts exactly what our signer produced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from api.entities import new_signing_secret
from deliverer.signatures import (
    signature_header,
    standard_headers,
    standard_key,
    standard_signature,
)
from tests.deliverer.test_outgoing import FORM_BODY, NOW, build, get, header, make_destination
from tests.deliverer.test_outgoing import make_event as make_outgoing_event

# Secrets as issued today, and as issued before: `whsec_` + unpadded base64url.
NEW_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OLD_SECRET = "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode().rstrip("=")
BODY = b'{"type":"message.status","status":"delivered"}'
DOC = Path(__file__).resolve().parents[2] / "docs" / "verifying-signatures.md"

standard_secrets = st.binary(min_size=1, max_size=64).map(
    lambda key: "whsec_" + base64.b64encode(key).decode()
)
# Stripe refuses a blank secret (its SDK's own rule); anything else is a secret string.
stripe_secrets = st.text(min_size=1).filter(lambda s: s.strip(" \t\r\n\f\v"))
# Both SDKs decode the body as UTF-8 before signing it again: their bodies are text.
text_bodies = st.text().map(str.encode)
message_ids = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40
).filter(lambda s: "." not in s)
# The libraries check the timestamp against the clock with 5 minutes of tolerance.
offsets = st.integers(-280, 280)


def as_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


def library_accepts(secret: str | bytes, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def stripe_accepts(body: bytes, header_value: str, secret: str) -> bool:
    try:
        return stripe.WebhookSignature.verify_header(body, header_value, secret, 300)
    except stripe.SignatureVerificationError:
        return False


# --- the secret and the key -------------------------------------------------------------


def test_new_secrets_are_whsec_and_standard_base64_of_32_random_bytes():
    secret = new_signing_secret()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(key) == 32 and standard_key(secret) == key
    assert new_signing_secret() != secret


def test_the_standard_key_is_what_the_library_decodes():
    assert standard_key(NEW_SECRET) == bytes(range(32)) == Webhook(NEW_SECRET)._whsecret


def test_an_old_secret_keys_by_its_utf8_bytes():
    # Unpadded base64url: Python's library would silently drop `-`/`_` and key by other bytes.
    assert standard_key(OLD_SECRET) == OLD_SECRET.encode()
    assert Webhook(OLD_SECRET)._whsecret != OLD_SECRET.encode()
    assert standard_key("whsec_") == b"whsec_" and standard_key("plain") == b"plain"


def test_standard_signature_is_base64_hmac_over_id_dot_timestamp_dot_body():
    digest = hmac.new(b"k", b"evt_1.1718000000." + BODY, hashlib.sha256).digest()
    assert standard_signature(b"k", "evt_1", NOW, BODY) == "v1," + base64.b64encode(digest).decode()


def test_standard_headers_sign_once_per_distinct_secret_current_first():
    pairs = standard_headers([NEW_SECRET, OLD_SECRET, NEW_SECRET, ""], "evt_1", NOW, BODY)
    assert pairs == [
        ("webhook-id", "evt_1"),
        ("webhook-timestamp", str(NOW)),
        (
            "webhook-signature",
            " ".join(
                [
                    standard_signature(standard_key(NEW_SECRET), "evt_1", NOW, BODY),
                    standard_signature(OLD_SECRET.encode(), "evt_1", NOW, BODY),
                ]
            ),
        ),
    ]
    with pytest.raises(ValueError, match="secret"):
        standard_headers([], "evt_1", NOW, BODY)


# --- the delivery request ----------------------------------------------------------------


def test_standard_webhooks_destination_gets_the_three_headers_and_no_fasthook_signature():
    event = make_outgoing_event(
        headers=[
            header("Content-Type", "application/json"),
            header("Webhook-Id", "msg_provider"),
            header("webhook-signature", "v1,cHJvdmlkZXI="),
            header("X-Keep", "1"),
        ]
    )
    request = build(
        event=event,
        destination=make_destination(auth_type="STANDARD_WEBHOOKS"),
        secrets=(NEW_SECRET, OLD_SECRET),
    )
    # The provider's own webhook-* headers are replaced: a receiver reads one value each.
    assert get(request, "webhook-id") == "evt_1"
    assert get(request, "webhook-timestamp") == str(NOW)
    assert (
        get(request, "webhook-signature")
        == dict(standard_headers([NEW_SECRET, OLD_SECRET], "evt_1", NOW, FORM_BODY))[
            "webhook-signature"
        ]
    )
    assert get(request, "x-keep") == "1" and get(request, "x-fasthook-signature") is None
    with pytest.raises(ValueError):
        build(destination=make_destination(auth_type="STANDARD_WEBHOOKS"), secrets=())


def test_other_auth_types_forward_a_providers_webhook_headers_untouched():
    event = make_outgoing_event(headers=[header("webhook-id", "msg_provider")])
    request = build(event=event, destination=make_destination(auth_type="FASTHOOK_SIGNATURE"))
    assert get(request, "webhook-id") == "msg_provider"
    assert get(request, "webhook-signature") is None


# --- standardwebhooks accepts exactly what we sign ----------------------------------------


@given(secret=standard_secrets, body=text_bodies, message_id=message_ids, offset=offsets)
def test_library_signer_and_ours_agree(secret, body, message_id, offset):
    ts = int(time.time()) + offset
    ours = standard_headers([secret], message_id, ts, body)
    theirs = Webhook(secret).sign(message_id, datetime.fromtimestamp(ts, UTC), body.decode())
    assert as_headers(ours)["webhook-signature"] == theirs


@given(
    secrets=st.lists(standard_secrets, min_size=1, max_size=2, unique=True),
    body=text_bodies,
    message_id=message_ids,
    offset=offsets,
    data=st.data(),
)
def test_library_verifies_with_any_valid_secret(secrets, body, message_id, offset, data):
    headers = as_headers(standard_headers(secrets, message_id, int(time.time()) + offset, body))
    assert library_accepts(data.draw(st.sampled_from(secrets)), body, headers)


@given(
    secret=standard_secrets,
    other=standard_secrets,
    body=text_bodies,
    tampered=text_bodies,
    message_id=message_ids,
    offset=offsets,
)
def test_library_rejects_anything_else(secret, other, body, tampered, message_id, offset):
    ts = int(time.time()) + offset
    headers = as_headers(standard_headers([secret], message_id, ts, body))
    assert library_accepts(secret, tampered, headers) == (tampered == body)
    assert library_accepts(other, body, headers) == (
        base64.b64decode(other[6:]) == base64.b64decode(secret[6:])
    )
    assert not library_accepts(secret, body, {**headers, "webhook-id": message_id + "x"})
    assert not library_accepts(secret, body, {**headers, "webhook-timestamp": str(ts + 1)})
    assert not library_accepts(secret, body, {**headers, "webhook-timestamp": str(ts - 400)})


def test_an_old_secret_verifies_as_raw_bytes():
    headers = as_headers(standard_headers([OLD_SECRET], "evt_1", int(time.time()), BODY))
    assert library_accepts(OLD_SECRET.encode(), BODY, headers)
    assert not library_accepts(OLD_SECRET, BODY, headers)  # the string as is: another key


# --- x-fasthook-signature and Stripe's verifier --------------------------------------------


@given(
    secrets=st.lists(stripe_secrets, min_size=1, max_size=2, unique=True),
    body=text_bodies,
    offset=offsets,
    data=st.data(),
)
def test_stripe_verifies_our_signature_with_any_valid_secret(secrets, body, offset, data):
    value = signature_header(secrets, int(time.time()) + offset, body)
    assert stripe_accepts(body, value, data.draw(st.sampled_from(secrets)))


@given(secret=stripe_secrets, other=stripe_secrets, body=text_bodies, tampered=text_bodies)
def test_stripe_rejects_anything_else(secret, other, body, tampered):
    ts = int(time.time())
    value = signature_header([secret], ts, body)
    assert stripe_accepts(tampered, value, secret) == (tampered == body)
    assert stripe_accepts(body, value, other) == (other == secret)
    assert not stripe_accepts(body, value.replace(f"t={ts}", f"t={ts + 1}"), secret)
    assert not stripe_accepts(body, signature_header([secret], ts - 301, body), secret)


def test_stripe_verifies_a_real_team_secret_during_rotation():
    current, previous = new_signing_secret(), OLD_SECRET
    value = signature_header([current, previous], int(time.time()), BODY)
    assert stripe.WebhookSignature.verify_header(BODY, value, current, 300) is True
    assert stripe.WebhookSignature.verify_header(BODY, value, previous, 300) is True


@given(body=st.binary(), offset=offsets)
def test_both_sdks_take_exactly_the_utf8_bodies(body, offset):
    """Where byte compatibility ends: both SDKs decode the body as UTF-8 before signing it
    again, so a body that is not UTF-8 raises in them, whatever the signature."""
    try:
        body.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    ts = int(time.time()) + offset
    fasthook = signature_header([NEW_SECRET], ts, body)
    standard = as_headers(standard_headers([NEW_SECRET], "evt_1", ts, body))
    if utf8:
        assert stripe_accepts(body, fasthook, NEW_SECRET)
        assert library_accepts(NEW_SECRET, body, standard)
    else:
        with pytest.raises(UnicodeDecodeError):
            stripe_accepts(body, fasthook, NEW_SECRET)
        with pytest.raises(UnicodeDecodeError):
            library_accepts(NEW_SECRET, body, standard)


# --- the documented recipes ---------------------------------------------------------------


def _documented(start: str, name: str):
    text = DOC.read_text()
    snippet = re.search(rf"```python\n({re.escape(start)}.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)
    return namespace[name]


def test_documented_standard_webhooks_recipe_verifies_across_a_rotation():
    check = _documented("from standardwebhooks", "verify_standard")
    current = new_signing_secret()
    headers = standard_headers([current, NEW_SECRET], "evt_1", int(time.time()), BODY)
    assert check(current, BODY, headers) and check(NEW_SECRET, BODY, headers)
    assert not check(current, BODY + b" ", headers)
    assert not check(new_signing_secret(), BODY, headers)


def test_documented_stripe_recipe_accepts_ours_and_refuses_binary_bodies():
    check = _documented("import stripe", "verify_with_stripe")
    now = int(time.time())
    assert check(BODY, signature_header([NEW_SECRET, OLD_SECRET], now, BODY), OLD_SECRET)
    assert not check(BODY, signature_header([NEW_SECRET], now, BODY), OLD_SECRET)
    assert not check(b"\xff", signature_header([NEW_SECRET], now, b"\xff"), NEW_SECRET)
