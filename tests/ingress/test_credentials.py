"""A source's own credential (BASIC_AUTH's Authorization, API_KEY's header) never reaches the
requests topic, so include_data and deliveries cannot show or forward it; provider signatures
(Twilio, HMAC) are evidence receivers re-validate, so they stay byte for byte."""

from __future__ import annotations

import base64

from ingress.signatures import credential_header
from tests.support.http import send_raw
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic

# The documented placeholder (docs/operations.md): the name stays, the value goes.
REDACTED = "[REDACTED]"
BASIC = "Basic " + base64.b64encode(b"twilio:s3cret-pass").decode()


def stored_headers(record: dict) -> list[tuple[str, str]]:
    return [(h["name"], h["value"]) for h in record["headers"]]


async def records_by_id(bootstrap, settings, expect: int) -> dict[str, dict]:
    records = await read_topic(bootstrap, settings.topics.requests, expect=expect)
    return {r["request_id"]: r for r in records}


async def test_basic_auth_credentials_are_redacted_accepted_or_not(
    ingress, producer, settings, bootstrap
):
    source = await declare_source(
        producer,
        settings,
        config={
            "auth_type": "BASIC_AUTH",
            "auth": {"username": "twilio", "password": "s3cret-pass"},
        },
    )
    await ingress.wait_for_source(source)
    wrong = "Basic " + base64.b64encode(b"twilio:s3cret-pasS").decode()

    good = await send_raw(
        ingress.source_url(source), "POST", [("Authorization", BASIC), ("X-Other", "kept")], b"{}"
    )
    bad = await send_raw(ingress.source_url(source), "POST", [("authorization", wrong)], b"{}")

    assert (good.status, bad.status) == (200, 401)
    records = await records_by_id(bootstrap, settings, 2)
    accepted = records[good.header("x-fasthook-request-id")]
    rejected = records[bad.header("x-fasthook-request-id")]
    assert ("Authorization", REDACTED) in stored_headers(accepted)
    assert ("X-Other", "kept") in stored_headers(accepted)
    assert ("authorization", REDACTED) in stored_headers(rejected)
    for record in (accepted, rejected):
        assert "s3cret" not in str(record["headers"])
        assert all(h["raw"] is None for h in record["headers"] if h["value"] == REDACTED)
    assert accepted["verification"] == {"method": "BASIC_AUTH", "verified": True, "detail": None}


async def test_api_key_header_is_redacted_whatever_its_case_and_repeats(
    ingress, producer, settings, bootstrap
):
    source = await declare_source(
        producer,
        settings,
        config={
            "auth_type": "API_KEY",
            "auth": {"header_key": "X-Api-Key", "api_key": "key-0123456789"},
        },
    )
    await ingress.wait_for_source(source)
    response = await send_raw(
        ingress.source_url(source),
        "POST",
        [
            ("x-api-key", "key-0123456789"),
            ("X-API-KEY", b"other-\xffkey"),
            ("Authorization", "Bearer not-ours"),
        ],
        b"{}",
    )

    assert response.status == 200
    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    headers = stored_headers(record)
    assert ("x-api-key", REDACTED) in headers and ("X-API-KEY", REDACTED) in headers
    assert "key-0123456789" not in str(record["headers"])
    # Only the source's own credential header: anything else the provider sent is evidence.
    assert ("Authorization", "Bearer not-ours") in headers


async def test_signature_headers_are_kept_byte_for_byte(ingress, producer, settings, bootstrap):
    source = await declare_source(
        producer,
        settings,
        config={
            "auth_type": "HMAC",
            "auth": {"webhook_secret_key": "whsec", "header_key": "X-Sig"},
        },
    )
    await ingress.wait_for_source(source)
    response = await send_raw(
        ingress.source_url(source),
        "POST",
        [("X-Sig", "c2lnbmF0dXJl"), ("X-Twilio-Signature", "abc=")],
        b"{}",
    )
    assert response.status == 401
    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    headers = stored_headers(record)
    assert ("X-Sig", "c2lnbmF0dXJl") in headers and ("X-Twilio-Signature", "abc=") in headers


def test_a_broken_api_key_config_names_no_credential_header() -> None:
    # It raised before, so a disabled source or a refused method answered 500.
    assert credential_header("API_KEY", {}) is None
    assert credential_header("API_KEY", {"header_key": ""}) is None
    assert credential_header("API_KEY", {"header_key": "X-Key"}) == "X-Key"
