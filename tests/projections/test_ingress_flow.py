"""A provider's request through the real ingress: the stored evidence comes back exactly."""

from __future__ import annotations

from tests.projections.conftest import TEAM, Service, api_headers
from tests.support.http import send_raw
from tests.support.ingress import declare_source, start_ingress

# Bytes that any re-encoding would change: invalid UTF-8, NUL, CRLF, `+` vs `%20`.
BODY = b"MessageSid=SMcccc&Body=caf\xe9+%20\x00\r\n&ErrorCode="
HEADERS = [
    ("Content-Type", "application/x-www-form-urlencoded; charset=ISO-8859-1"),
    ("X-Twilio-Signature", "abc="),
    ("I-Twilio-Idempotency-Token", "tok-42"),
]


async def test_ingress_request_is_searchable_and_raw_body_is_exact(
    service: Service, producer
) -> None:
    ingress = await start_ingress(service.settings)
    try:
        source = await declare_source(producer, service.settings, TEAM)
        await ingress.wait_for_source(source)
        response = await send_raw(
            ingress.source_url(source) + "/twilio/status?x=1&y=%2F", "POST", HEADERS, BODY
        )
        assert response.status == 200
        request_id = response.header("x-fasthook-request-id")
        [model] = await service.wait_for("/v1/requests", 1, q="TOK-42", include_data="true")
        assert model["id"] == request_id and model["source_id"] == source["id"]
        data = model["data"]
        assert data["path"] == "/twilio/status" and data["query"] == "x=1&y=%2F"
        assert data["parsed_query"] == {"x": "1", "y": "/"}
        assert data["headers"]["I-Twilio-Idempotency-Token"] == "tok-42"
        # A form that is not UTF-8 (ISO-8859-1 here) is shown as the text a filter saw, not as
        # fields with replacement characters a filter could never have matched.
        assert data["body"] == BODY.decode("utf-8", "replace")
        status, raw = await service.call("GET", f"/v1/requests/{request_id}/raw_body")
        assert status == 200 and raw == BODY
        async with service.http.get(
            f"{service.url}/v1/requests/{request_id}/raw_body",
            headers=api_headers(service.settings),
        ) as answer:
            assert answer.headers["Content-Type"] == HEADERS[0][1]
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await ingress.runner.cleanup()
