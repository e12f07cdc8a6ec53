"""`TWILIO` source auth at the edge, with callbacks signed by the real twilio SDK."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.ingress.test_evidence import STATUS_BODY, twilio_params
from tests.support.http import send_raw
from tests.support.ingress import declare_source, start_ingress
from tests.support.kafka import read_topic

TOKEN = "twilio-auth-token-0123456789abcdef"
FORM = ("Content-Type", "application/x-www-form-urlencoded")


@pytest.fixture
async def twilio_source(ingress, producer, settings):
    source = await declare_source(
        producer,
        settings,
        config={
            "auth_type": "TWILIO",
            "auth": {"auth_token": TOKEN},
            "allowed_http_methods": ["POST", "GET"],
        },
    )
    await ingress.wait_for_source(source)
    return source


def sign(url: str, params: dict | str | None = None, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params or {})


async def assert_verdicts(bootstrap, settings, responses: dict[str, tuple[int, str]]) -> None:
    records = {
        r["request_id"]: r
        for r in await read_topic(bootstrap, settings.topics.requests, expect=len(responses))
    }
    for request_id, (status, label) in responses.items():
        record = records[request_id]
        if status == 200:
            assert record["status"] == "accepted", label
            assert record["verification"] == {
                "method": "TWILIO",
                "verified": True,
                "detail": None,
            }, label
        else:
            assert status == 401, label
            assert (record["status"], record["rejection_cause"]) == (
                "rejected",
                "VERIFICATION_FAILED",
            ), label


async def test_signed_callbacks_pass_and_tampered_ones_fail(
    ingress, twilio_source, settings, bootstrap
):
    base = ingress.source_url(twilio_source)
    form_url = f"{base}/twilio/status?tenant=a%20b"
    form_sig = sign(form_url, twilio_params(STATUS_BODY))
    get_url = f"{base}/voice/status?{urlencode({'CallSid': 'CA1', 'CallStatus': 'ringing'})}"
    payload = json.dumps([{"type": "com.twilio.messaging.message.delivered", "data": {}}]).encode()
    json_url = f"{base}/events?bodySHA256={RequestValidator(TOKEN).compute_hash(payload.decode())}"
    json_sig = sign(json_url)
    dropped = STATUS_BODY.replace(b"&ErrorCode=", b"")
    cases = [
        ("form", 200, form_url, "POST", [FORM, ("X-Twilio-Signature", form_sig)], STATUS_BODY),
        ("get", 200, get_url, "GET", [("X-Twilio-Signature", sign(get_url))], b""),
        (
            "json",
            200,
            json_url,
            "POST",
            [("Content-Type", "application/json"), ("X-Twilio-Signature", json_sig)],
            payload,
        ),
        (
            "tampered body",
            401,
            form_url,
            "POST",
            [FORM, ("X-Twilio-Signature", form_sig)],
            STATUS_BODY.replace(b"delivered", b"failed", 1),
        ),
        (
            "dropped empty field",
            401,
            form_url,
            "POST",
            [FORM, ("X-Twilio-Signature", form_sig)],
            dropped,
        ),
        (
            "wrong token",
            401,
            form_url,
            "POST",
            [FORM, ("X-Twilio-Signature", sign(form_url, twilio_params(STATUS_BODY), "x" * 32))],
            STATUS_BODY,
        ),
        (
            "tampered json",
            401,
            json_url,
            "POST",
            [("Content-Type", "application/json"), ("X-Twilio-Signature", json_sig)],
            payload.replace(b"delivered", b"failed"),
        ),
        ("no signature", 401, form_url, "POST", [FORM], STATUS_BODY),
        (
            "query changed",
            401,
            form_url.replace("a%20b", "a+b"),
            "POST",
            [FORM, ("X-Twilio-Signature", form_sig)],
            STATUS_BODY,
        ),
    ]
    responses = {}
    for label, expected, url, method, headers, body in cases:
        response = await send_raw(url, method, headers, body)
        assert response.status == expected, (label, response.body)
        responses[response.header("x-fasthook-request-id")] = (expected, label)
    await assert_verdicts(bootstrap, settings, responses)


async def test_hmac_sha256_signature_settings_variant(ingress, twilio_source):
    url = ingress.source_url(twilio_source) + "/twilio/status"
    params = twilio_params(STATUS_BODY)
    signature = RequestValidator(TOKEN).compute_signature(url, params, algorithm="HMAC_SHA256")
    settings_header = (
        "X-Twilio-Webhooks-Signature-Settings",
        "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    )
    ok = await send_raw(
        url, "POST", [FORM, ("X-Twilio-Signature", signature), settings_header], STATUS_BODY
    )
    # The same signature without the announcement is checked as SHA1 and fails.
    bad = await send_raw(url, "POST", [FORM, ("X-Twilio-Signature", signature)], STATUS_BODY)
    assert (ok.status, bad.status) == (200, 401)


async def test_validates_against_the_public_url_behind_a_proxy(
    ingress, producer, settings, bootstrap
):
    """Twilio signs the public URL; the ingress listens on another one behind the proxy."""
    public = "https://hooks.example.com"
    proxied = await start_ingress(settings.with_(public_url=public))
    try:
        source = await declare_source(
            producer, settings, config={"auth_type": "TWILIO", "auth": {"auth_token": TOKEN}}
        )
        await proxied.wait_for_source(source)
        path = f"/{source['token']}/twilio/status?x=1"
        signature = sign(public + path, twilio_params(STATUS_BODY))
        response = await send_raw(
            f"http://127.0.0.1:{proxied.settings.ingress_port}{path}",
            "POST",
            [FORM, ("X-Twilio-Signature", signature)],
            STATUS_BODY,
        )
        assert response.status == 200
        records = await read_topic(bootstrap, settings.topics.requests, expect=1)
        assert records[0]["public_url"] == public + path
    finally:
        await proxied.close()
