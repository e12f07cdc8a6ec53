"""The provider's event type and idempotency key: stored, returned, filtered, searched, replayed."""

from __future__ import annotations

import json

from schemas.providers import provider_view
from tests.projections.conftest import TEAM, Service
from tests.projections.records import FORM, publish, request_record
from tests.support.kafka import read_topic

SOURCE = "src_github"
JSON = [{"name": "Content-Type", "value": "application/json", "raw": None}]


def provided(record: dict) -> dict:
    """The record as the ingress writes it: with the provider's view of it."""
    event_type, key = provider_view(record["headers"], record["body"])
    return {**record, "event_type": event_type, "idempotency_key": key}


def github(event: str, delivery: str) -> dict:
    return provided(
        request_record(
            TEAM,
            SOURCE,
            b'{"ref": "main"}',
            headers=[
                *JSON,
                {"name": "X-GitHub-Event", "value": event, "raw": None},
                {"name": "X-GitHub-Delivery", "value": delivery, "raw": None},
            ],
        )
    )


async def test_event_type_and_idempotency_key_are_columns_filters_and_search(
    service: Service, producer, bootstrap
) -> None:
    settings = service.settings
    push, issues = github("push", "72d3162e-cc78-11e3"), github("issues", "8f4a1b2c-dd01")
    stripe = provided(
        request_record(
            TEAM,
            SOURCE,
            json.dumps({"id": "evt_1NqXyz", "type": "invoice.paid"}).encode(),
            headers=[*JSON, {"name": "Stripe-Signature", "value": "t=1,v1=x", "raw": None}],
        )
    )
    plain = provided(request_record(TEAM, SOURCE, headers=FORM))
    await publish(producer, settings, "requests", [push, issues, stripe, plain])
    await service.wait_for("/v1/requests", 4, source_id=SOURCE)

    [found] = (await service.get("/v1/requests", event_type="push"))["models"]
    assert found["id"] == push["request_id"]
    assert (found["event_type"], found["idempotency_key"]) == ("push", "72d3162e-cc78-11e3")
    [found] = (await service.get("/v1/requests", idempotency_key="evt_1NqXyz"))["models"]
    assert (found["id"], found["event_type"]) == (stripe["request_id"], "invoice.paid")
    # q finds a delivery id (any case), as people paste it from the provider's dashboard.
    [found] = (await service.get("/v1/requests", q="8F4A1B2C-DD01"))["models"]
    assert found["id"] == issues["request_id"]
    one = await service.get(f"/v1/requests/{plain['request_id']}")
    assert one["event_type"] is None and one["idempotency_key"] is None

    # A replay carries them, so rules on them route it as they routed the original.
    status, _ = await service.call("POST", f"/v1/requests/{push['request_id']}/retry")
    assert status == 202
    records = await read_topic(bootstrap, settings.topics.requests, expect=5)
    [replay] = [r for r in records if r["replay_of"]]
    assert (replay["event_type"], replay["idempotency_key"]) == ("push", "72d3162e-cc78-11e3")


async def test_the_filters_are_validated(service: Service) -> None:
    status, body = await service.call("GET", "/v1/requests", params={"idempotency_key": "k" * 257})
    assert status == 422 and body["errors"][0]["path"] == "idempotency_key", body


async def test_a_replay_of_a_request_stored_before_the_fields_gets_them(
    service: Service, producer, bootstrap
) -> None:
    """Stored by an ingress that did not know them yet (an old schema's record): the replay
    reads them off its headers and body, so rules on them route it."""
    settings = service.settings
    old = request_record(
        TEAM,
        SOURCE,
        b'{"ref": "main"}',
        headers=[
            *JSON,
            {"name": "X-GitHub-Event", "value": "push", "raw": None},
            {"name": "X-GitHub-Delivery", "value": "0ld-d3l1very", "raw": None},
        ],
    )
    await publish(producer, settings, "requests", [old])
    await service.wait_for("/v1/requests", 1, source_id=SOURCE)
    status, _ = await service.call("POST", f"/v1/requests/{old['request_id']}/retry")
    assert status == 202
    records = await read_topic(bootstrap, settings.topics.requests, expect=2)
    [replay] = [r for r in records if r["replay_of"]]
    assert (replay["event_type"], replay["idempotency_key"]) == ("push", "0ld-d3l1very")
