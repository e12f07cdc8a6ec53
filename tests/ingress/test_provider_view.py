"""The ingress keeps the provider's event type and delivery id on every request it stores."""

from __future__ import annotations

from tests.support.http import send_raw
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic

GITHUB = [
    ("Content-Type", "application/json"),
    ("X-GitHub-Event", "push"),
    ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
]


async def test_accepted_and_rejected_requests_carry_the_provider_view(
    ingress, producer, settings, bootstrap
):
    # Basic auth on the source: detection reads the provider's headers whatever the auth.
    source = await declare_source(
        producer,
        settings,
        config={
            "auth_type": "BASIC_AUTH",
            "auth": {"username": "github", "password": "s3cret-pass"},
        },
    )
    await ingress.wait_for_source(source)
    url = ingress.source_url(source)
    accepted = await send_raw(
        url,
        "POST",
        [*GITHUB, ("Authorization", "Basic Z2l0aHViOnMzY3JldC1wYXNz")],
        b'{"ref": "refs/heads/main"}',
    )
    # A refused request is evidence too: which delivery was refused shows in its record.
    rejected = await send_raw(url, "POST", GITHUB, b'{"ref": "refs/heads/main"}')
    plain = await send_raw(
        url, "POST", [("Authorization", "Basic Z2l0aHViOnMzY3JldC1wYXNz")], b"hello"
    )
    assert (accepted.status, rejected.status, plain.status) == (200, 401, 200)
    records = {
        r["request_id"]: r for r in await read_topic(bootstrap, settings.topics.requests, expect=3)
    }
    for answer in (accepted, rejected):
        record = records[answer.header("x-fasthook-request-id")]
        assert (record["event_type"], record["idempotency_key"]) == (
            "push",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        ), record["status"]
    record = records[plain.header("x-fasthook-request-id")]
    assert (record["event_type"], record["idempotency_key"]) == (None, None)
