"""The provider's event type and delivery id, from the ingress through the router's rules."""

from __future__ import annotations

import json

from tests.router.test_routing_flow import outcomes, setup_connection
from tests.router.test_rules_flow import post

JSON = ("Content-Type", "application/json")


def github(event: str, delivery: str) -> list[tuple[str, str]]:
    return [JSON, ("X-GitHub-Event", event), ("X-GitHub-Delivery", delivery)]


async def test_deduplicate_by_idempotency_key_drops_a_redelivery(
    router, ingress, producer, settings, bootstrap
):
    rules = [{"type": "deduplicate", "window": 600_000, "include_fields": ["idempotency_key"]}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    first = await post(ingress, source, b'{"ref": "main"}', github("push", "d-1"))
    await outcomes(bootstrap, settings, [first])
    # GitHub's redelivery keeps the delivery id; the body need not be byte-identical.
    repeat = await post(ingress, source, b'{"ref": "main", "zen": "again"}', github("push", "d-1"))
    other = await post(ingress, source, b'{"ref": "main"}', github("push", "d-2"))
    twilio = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("I-Twilio-Idempotency-Token", "d-1"),
    ]
    # Twilio's token with the same value is the same key: the rule reads the field, not the header.
    same_key_twilio = await post(ingress, source, b"MessageStatus=sent", twilio)
    found = await outcomes(bootstrap, settings, [first, repeat, other, same_key_twilio])
    assert found[first][0] == "EVENT" and found[other][0] == "EVENT"
    assert found[repeat][0] == "DUPLICATE"
    assert found[first][1]["event_id"] in found[repeat][1]["detail"]
    assert found[same_key_twilio][0] == "DUPLICATE"


async def test_filter_on_event_type(router, ingress, producer, settings, bootstrap):
    rules = [{"type": "filter", "event_type": {"$in": ["push", "invoice.paid"]}}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    push = await post(ingress, source, b"{}", github("push", "d-1"))
    issues = await post(ingress, source, b"{}", github("issues", "d-2"))
    stripe = await post(
        ingress,
        source,
        json.dumps({"id": "evt_1", "type": "invoice.paid"}).encode(),
        [JSON, ("Stripe-Signature", "t=1,v1=x")],
    )
    unnamed = await post(ingress, source, b'{"type": "push"}', [JSON])
    found = await outcomes(bootstrap, settings, [push, issues, stripe, unnamed])
    assert {
        name: found[rid][0]
        for name, rid in {
            "push": push,
            "issues": issues,
            "stripe": stripe,
            "unnamed": unnamed,
        }.items()
    } == {"push": "EVENT", "issues": "FILTERED", "stripe": "EVENT", "unnamed": "FILTERED"}
