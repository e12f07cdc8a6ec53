"""What a provider sent is what the requests topic holds: bytes, query, headers, order."""

from __future__ import annotations

from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator

from schemas.limits import MAX_HEADER_COUNT
from tests.support.http import send_raw
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic

AUTH_TOKEN = "12345678901234567890123456789012"
STATUS_BODY = (
    b"MessageSid=SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&MessageStatus=delivered&SmsStatus=delivered"
    b"&To=%2B18005551212&From=%2B18005550199&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    b"&ErrorCode="
)


def twilio_params(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


async def test_twilio_status_callback_is_stored_exactly(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    url = ingress.source_url(source) + "/twilio/status?tenant=a%20b"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, twilio_params(STATUS_BODY))
    sent_headers = [
        ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("X-Twilio-Signature", signature),
        ("I-Twilio-Idempotency-Token", "20d7190c-25a7-4f2a-a137-1f7d68f7c1d4"),
        ("User-Agent", "TwilioProxy/1.1"),
        ("X-Home-Region", "us1"),
    ]

    response = await send_raw(url, "POST", sent_headers, STATUS_BODY)

    assert response.status == 200
    request_id = response.header("x-fasthook-request-id")
    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    assert record["request_id"] == request_id
    assert record["status"] == "accepted"
    assert record["body"] == STATUS_BODY
    assert record["path"] == "/twilio/status"
    assert record["query"] == "tenant=a%20b"
    assert record["public_url"] == url
    host = url.split("/")[2]
    assert [(h["name"], h["value"]) for h in record["headers"]] == [
        ("Host", host),
        *sent_headers,
        ("Content-Length", str(len(STATUS_BODY))),
        ("Connection", "close"),
    ]
    assert RequestValidator(AUTH_TOKEN).validate(
        record["public_url"], twilio_params(record["body"]), signature
    )


async def test_headers_keep_order_repeats_case_and_non_utf8_bytes(
    ingress, producer, settings, bootstrap
):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    # Up to the contract's header count: 5 below, 3 added by send_raw (Host, Content-Length,
    # Connection).
    many = [(f"X-Custom-{i:03d}", f"value {i}") for i in range(MAX_HEADER_COUNT - 8)]
    headers = [
        ("x-lower", "a"),
        ("X-Repeat", "one"),
        ("X-Repeat", "two"),
        ("X-Latin", b"caf\xe9"),
        ("X-Utf8", "caf\u00e9".encode()),
        *many,
    ]
    response = await send_raw(ingress.source_url(source), "POST", headers, b"{}")
    assert response.status == 200

    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    stored = record["headers"][1:-2]  # between Host and Content-Length/Connection
    assert [h["name"] for h in stored] == [name for name, _ in headers]
    assert stored[1]["value"] == "one" and stored[2]["value"] == "two"
    assert stored[3]["raw"] == b"caf\xe9"  # not UTF-8: the exact bytes are kept
    assert stored[4] == {"name": "X-Utf8", "value": "caf\u00e9", "raw": None}
    assert len(stored) == MAX_HEADER_COUNT - 3


async def test_bodies_are_stored_byte_for_byte(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    bodies = [
        bytes(range(256)) * 4,  # binary
        b"\xff\xfe\x00invalid \xc3\x28 utf-8",
        b"",
        b"x" * (5 * 1024 * 1024),  # exactly the limit
        '{"emoji":"\U0001f600","nul":"\\u0000"}'.encode(),
    ]
    ids = []
    for body in bodies:
        response = await send_raw(
            ingress.source_url(source) + "/bin",
            "POST",
            [("Content-Type", "application/octet-stream")],
            body,
        )
        assert response.status == 200
        ids.append(response.header("x-fasthook-request-id"))

    records = await read_topic(bootstrap, settings.topics.requests, expect=len(bodies))
    by_id = {r["request_id"]: r for r in records}
    for request_id, body in zip(ids, bodies, strict=True):
        assert by_id[request_id]["body"] == body
        assert by_id[request_id]["body_size"] == len(body)


async def test_unusual_methods_are_stored_when_allowed(ingress, producer, settings, bootstrap):
    methods = ["OPTIONS", "PROPFIND", "PURGE", "REPORT", "GET", "DELETE", "PATCH"]
    source = await declare_source(producer, settings, config={"allowed_http_methods": methods})
    await ingress.wait_for_source(source)
    for method in methods:
        response = await send_raw(ingress.source_url(source) + "/m?q=1", method, [], b"body")
        assert response.status == 200, (method, response.body)
    records = await read_topic(bootstrap, settings.topics.requests, expect=len(methods))
    assert sorted(r["method"] for r in records) == sorted(methods)
    assert all(r["body"] == b"body" and r["query"] == "q=1" for r in records)
