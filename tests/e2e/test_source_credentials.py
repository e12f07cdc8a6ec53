"""A source's own credential is checked at the edge and never travels further: the receiver of
a delivered request does not get the provider's API key (only its header name, redacted)."""

from __future__ import annotations

from tests.api.test_guide import guide_connection
from tests.e2e.test_twilio_status_callback import settings, stack  # noqa: F401 (fixtures)
from tests.support.receiver import sent_until_received

API_KEY = "provider-key-0123456789abcdef"


async def test_delivered_request_does_not_carry_the_source_api_key(stack):  # noqa: F811
    api, receiver = stack["api"], stack["receiver"]
    _, source = await api.call(
        "POST",
        "/v1/sources",
        {
            "name": "keyed",
            "config": {
                "auth_type": "API_KEY",
                "auth": {"header_key": "X-Api-Key", "api_key": API_KEY},
            },
        },
    )
    _, destination = await api.call(
        "POST",
        "/v1/destinations",
        {"name": "receiver", "config": {"url": receiver.url + "/hook", "auth_type": None}},
    )
    connection = guide_connection(source["id"], destination["id"])
    connection["rules"] = []
    status, _ = await api.call("POST", "/v1/connections", connection)
    assert status == 201

    got = await sent_until_received(
        receiver,
        source["url"] + "/twilio/status",
        [("X-Api-Key", API_KEY), ("X-Trace", "t-1")],
        b"{}",
    )
    assert got.header("X-Trace") == "t-1"
    assert got.header("X-Api-Key") == "[REDACTED]"
    assert all(API_KEY not in value for _, value in got.headers)
