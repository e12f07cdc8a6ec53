"""Killing the router mid-stream loses nothing; re-routed requests keep their event ids."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import encode
from schemas.ids import new_id
from tests.api.test_guide import GUIDE_BODY
from tests.router.test_routing_flow import setup_connection
from tests.support.kafka import read_topic
from tests.support.poll import eventually

TOTAL = 2000


def request_record(source: dict, i: int) -> dict:
    status = b"failed" if i % 2 else b"delivered"
    body = GUIDE_BODY.replace(b"MessageStatus=delivered", b"MessageStatus=" + status)
    return {
        "request_id": new_id("req"),
        "team_id": source["team_id"],
        "source_id": source["id"],
        "received_at": 1_795_000_000_000 + i,
        "method": "POST",
        "path": "/twilio/status",
        "query": "",
        "public_url": "https://hooks.example.com/x/twilio/status",
        "headers": [
            {"name": "Content-Type", "value": "application/x-www-form-urlencoded", "raw": None}
        ],
        "body": body,
        "body_size": len(body),
        "client_ip": "127.0.0.1",
        "verification": {"method": "NONE", "verified": True, "detail": None},
        "status": "accepted",
        "rejection_cause": None,
        "replay_of": None,
        "connection_ids": None,
    }


async def test_sigkill_mid_stream_every_request_has_an_outcome(
    router, ingress, producer, settings, bootstrap
):
    rules = [{"type": "filter", "body": {"MessageStatus": "failed"}}]
    source, _, _ = await setup_connection(producer, settings, ingress, rules)
    records = [request_record(source, i) for i in range(TOTAL)]
    sends = [
        await producer.send(
            settings.topics.requests, encode("RequestReceived", r), key=r["request_id"].encode()
        )
        for r in records
    ]
    await asyncio.gather(*sends)

    async def some_routed() -> bool:
        return len(await read_topic(bootstrap, settings.topics.events)) > 100

    await eventually(some_routed, 30, "routing under way")
    router.signal(signal.SIGKILL)
    await router.wait_exit(10)
    router.start()

    async def all_routed() -> list:
        events = await read_topic(bootstrap, settings.topics.events)
        ignored = await read_topic(bootstrap, settings.topics.ignored)
        done = {e["request_id"] for e in events} | {i["request_id"] for i in ignored}
        return [events, ignored] if len(done) >= TOTAL else []

    events, ignored = await eventually(all_routed, 90, "every request routed", 0.5)

    expected_events = {r["request_id"] for i, r in enumerate(records) if i % 2}
    assert {e["request_id"] for e in events} == expected_events
    assert {i["request_id"] for i in ignored} == {
        r["request_id"] for r in records
    } - expected_events
    # Duplicates (re-routed after the kill) carry the same event id for the same request.
    ids_per_request: dict[str, set[str]] = {}
    for e in events:
        ids_per_request.setdefault(e["request_id"], set()).add(e["event_id"])
    assert all(len(ids) == 1 for ids in ids_per_request.values())
    duplicates = sum(Counter(e["event_id"] for e in events).values()) - len(expected_events)
    print(f"events={len(events)} unique={len(expected_events)} duplicates={duplicates}")


async def test_offsets_of_routed_requests_are_committed(
    router, ingress, producer, settings, bootstrap
):
    """Requests are routed in tasks of their own and acked one by one: the worker still
    commits every routed offset, so a restart re-routes only what was in flight."""
    source, _, _ = await setup_connection(
        producer, settings, ingress, [{"type": "filter", "body": {"MessageStatus": "failed"}}]
    )
    records = [request_record(source, i) for i in range(200)]
    await asyncio.gather(
        *[
            await producer.send(
                settings.topics.requests, encode("RequestReceived", r), key=r["request_id"].encode()
            )
            for r in records
        ]
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:

        async def committed() -> bool:
            offsets = await admin.list_consumer_group_offsets(f"{settings.topic_namespace}-router")
            return sum(
                o.offset for tp, o in offsets.items() if tp.topic == settings.topics.requests
            ) >= len(records)

        await eventually(committed, 30, "every routed offset committed", 0.2)
    finally:
        await admin.close()
