"""The router worker (plain aiokafka): requests in, events and ignored records out."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import aiohttp
from twilio.request_validator import RequestValidator

from schemas.codec import encode
from tests.api.test_guide import GUIDE_BODY, guide_connection
from tests.support.config import declare
from tests.support.http import send_raw
from tests.support.kafka import read_topic
from tests.support.poll import eventually

FORM = ("Content-Type", "application/x-www-form-urlencoded")
TOKEN = "0123456789abcdef0123456789abcdef"


async def router_applied(settings, count: int) -> None:
    """Wait until the router's view holds `count` config records (it follows the topic)."""
    url = f"http://127.0.0.1:{settings.router_port}/readyz"

    async def seen() -> bool:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return (await response.json())["config_records_applied"] >= count

    await eventually(seen, 10, f"router view with {count} config records")


async def setup_connection(producer, settings, ingress, rules, **source_fields):
    source = await declare(producer, settings, "source", {"name": "twilio", **source_fields})
    destination = await declare(
        producer,
        settings,
        "destination",
        {"name": "receiver", "config": {"url": "http://127.0.0.1:9/receiver"}},
    )
    connection = await declare(
        producer,
        settings,
        "connection",
        {**guide_connection(source["id"], destination["id"]), "rules": rules},
    )
    await ingress.wait_for_source(source)
    await router_applied(
        settings, len(await read_topic(settings.kafka_bootstrap, settings.topics.config))
    )
    return source, destination, connection


def signed(url: str, body: bytes) -> list[tuple[str, str]]:
    params = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return [FORM, ("X-Twilio-Signature", RequestValidator(TOKEN).compute_signature(url, params))]


async def outcomes(bootstrap, settings, request_ids, timeout_s=20.0):
    """request id → ("EVENT", event) | (cause, ignored), once every request has one."""
    found: dict[str, tuple[str, dict]] = {}
    deadline = time.monotonic() + timeout_s
    while set(request_ids) - set(found) and time.monotonic() < deadline:
        for event in await read_topic(bootstrap, settings.topics.events):
            found[event["request_id"]] = ("EVENT", event)
        for ignored in await read_topic(bootstrap, settings.topics.ignored):
            found[ignored["request_id"]] = (ignored["cause"], ignored)
    assert not set(request_ids) - set(found), f"no outcome for {set(request_ids) - set(found)}"
    return found


async def test_guide_connection_routes_and_filters(router, ingress, producer, settings, bootstrap):
    rules = guide_connection("src_x", "des_x")["rules"]
    source, _, connection = await setup_connection(producer, settings, ingress, rules)
    base = ingress.source_url(source)
    url = base + "/twilio/status"
    cases = {
        "signed": await send_raw(url, "POST", signed(url, GUIDE_BODY), GUIDE_BODY),
        "no signature": await send_raw(url, "POST", [FORM], GUIDE_BODY),
        "other path": await send_raw(
            base + "/other", "POST", signed(base + "/other", GUIDE_BODY), GUIDE_BODY
        ),
    }
    ids = {name: r.header("x-fasthook-request-id") for name, r in cases.items()}
    found = await outcomes(bootstrap, settings, ids.values())

    kind, event = found[ids["signed"]]
    assert kind == "EVENT"
    assert event["connection_id"] == connection["id"]
    assert event["request"]["body"] == GUIDE_BODY  # exact bytes, ready for the receiver
    assert event["source_url"] == url
    assert event["trigger"] == "INITIAL" and event["attempt_number"] == 1
    headers = event["request"]["headers"]
    params = {k: v[0] for k, v in parse_qs(GUIDE_BODY.decode(), keep_blank_values=True).items()}
    signature = next(h["value"] for h in headers if h["name"] == "X-Twilio-Signature")
    assert RequestValidator(TOKEN).validate(event["source_url"], params, signature)
    assert found[ids["no signature"]][0] == "FILTERED"
    assert found[ids["other path"]][0] == "FILTERED"


async def test_body_filter_on_a_form_encoded_callback(
    router, ingress, producer, settings, bootstrap
):
    rules = [{"type": "filter", "body": {"MessageStatus": {"$in": ["failed", "undelivered"]}}}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    url = ingress.source_url(source) + "/twilio/status"
    failed = GUIDE_BODY.replace(b"MessageStatus=delivered", b"MessageStatus=failed")
    answers = {
        "failed": await send_raw(url, "POST", [FORM], failed),
        "delivered": await send_raw(url, "POST", [FORM], GUIDE_BODY),
    }
    ids = {k: r.header("x-fasthook-request-id") for k, r in answers.items()}
    found = await outcomes(bootstrap, settings, ids.values())
    assert found[ids["failed"]][0] == "EVENT"
    assert found[ids["delivered"]][0] == "FILTERED"


async def test_router_probes_and_metrics(router, ingress, producer, settings, bootstrap):
    rules = [{"type": "filter", "path": "/twilio/status"}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    answer = await send_raw(
        ingress.source_url(source) + "/twilio/status", "POST", [FORM], GUIDE_BODY
    )
    await outcomes(bootstrap, settings, [answer.header("x-fasthook-request-id")])
    base = f"http://127.0.0.1:{settings.router_port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/healthz") as r:
            assert r.status == 200
        async with http.get(base + "/metrics") as r:
            assert r.status == 200
            text = await r.text()
    assert 'fasthook_router_outcomes_total{outcome="EVENT"} 1.0' in text
    assert 'fasthook_router_requests_total{status="accepted"} 1.0' in text


async def test_a_request_routed_again_yields_the_same_event(
    router, ingress, producer, settings, bootstrap
):
    """After a crash the router routes again what it had not committed: the event it makes
    must be the same record, or projections would take the copy for a newer fact (the chaos
    suite saw events read QUEUED for good after a router kill)."""
    rules = [{"type": "filter", "path": "/twilio/status"}, {"type": "delay", "delay": 60_000}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    answer = await send_raw(
        ingress.source_url(source) + "/twilio/status", "POST", [FORM], GUIDE_BODY
    )
    request_id = answer.header("x-fasthook-request-id")
    await outcomes(bootstrap, settings, [request_id])
    [stored] = [
        r
        for r in await read_topic(bootstrap, settings.topics.requests)
        if r["request_id"] == request_id
    ]
    await producer.send_and_wait(
        settings.topics.requests, encode("RequestReceived", stored), key=request_id.encode()
    )

    async def routed_twice() -> list[dict]:
        events = [
            e
            for e in await read_topic(bootstrap, settings.topics.events)
            if e["request_id"] == request_id
        ]
        return events if len(events) == 2 else []

    first, again = await eventually(routed_twice, 20, "the request routed a second time")
    assert again == first
    assert first["created_at"] == stored["received_at"]
    assert first["due_at"] == stored["received_at"] + 60_000
