"""Two router workers share the requests partitions; every request is routed once."""

from __future__ import annotations

import aiohttp

from fasthook.embedded import free_port
from schemas.codec import encode
from tests.router.test_router_crash import request_record
from tests.router.test_routing_flow import setup_connection
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess

TOTAL = 400


async def test_two_workers_share_the_partitions(
    router, ingress, producer, settings, bootstrap, tmp_path
):
    second_settings = settings.with_(router_port=free_port(), instance_id="second-worker")
    second = ServiceProcess("router", second_settings, tmp_path / "router-2.log")
    second.start()
    try:
        await second.wait_ready(f"http://127.0.0.1:{second_settings.router_port}/readyz", 90)
        source, _, _ = await setup_connection(
            producer, settings, ingress, [{"type": "filter", "path": "/twilio/status"}]
        )
        records = [request_record(source, i) for i in range(TOTAL)]
        for record in records:
            await producer.send(
                settings.topics.requests,
                encode("RequestReceived", record),
                key=record["request_id"].encode(),
            )
        await producer.flush()

        async def all_routed() -> list:
            events = await read_topic(bootstrap, settings.topics.events)
            return events if len({e["request_id"] for e in events}) >= TOTAL else []

        events = await eventually(all_routed, 60, "every request routed", 0.5)
        assert {e["request_id"] for e in events} == {r["request_id"] for r in records}

        # Both workers did some of it.
        counts = []
        for port in (settings.router_port, second_settings.router_port):
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/metrics") as response,
            ):
                text = await response.text()
            line = next(
                (
                    x
                    for x in text.splitlines()
                    if x.startswith('fasthook_router_requests_total{status="accepted"}')
                ),
                "x 0",
            )
            counts.append(float(line.split()[-1]))
        assert all(c > 0 for c in counts), counts
        assert sum(counts) >= TOTAL
    finally:
        second.kill()


BACKLOG = 3000
TRANSFORM = (
    "addHandler('transform', (request, context) => {"
    " request.headers['x-routed'] = 'yes'; return request; });"
)


async def test_a_worker_joining_mid_backlog_loses_nothing(
    router, ingress, producer, settings, bootstrap, tmp_path
):
    """A worker joins while the first has a backlog fetched and being routed: the group
    rebalances, and what the first worker fetched but never routed is routed by whoever owns
    its partition now — none of it is committed past unrouted."""
    source, _, _ = await setup_connection(
        producer, settings, ingress, [{"type": "transformation", "code": TRANSFORM}]
    )
    records = [request_record(source, i) for i in range(BACKLOG)]
    for record in records:
        await producer.send(
            settings.topics.requests,
            encode("RequestReceived", record),
            key=record["request_id"].encode(),
        )
    await producer.flush()

    async def some_routed() -> bool:
        return len(await read_topic(bootstrap, settings.topics.events)) > 50

    await eventually(some_routed, 60, "routing under way", 0.2)
    second_settings = settings.with_(router_port=free_port(), instance_id="joining-worker")
    second = ServiceProcess("router", second_settings, tmp_path / "router-2.log")
    second.start()
    try:

        async def all_routed() -> set[str]:
            events = await read_topic(bootstrap, settings.topics.events)
            routed = {e["request_id"] for e in events}
            return routed if len(routed) >= BACKLOG else set()

        try:
            routed = await eventually(all_routed, 120, "every request routed", 1)
        except AssertionError:
            routed = {e["request_id"] for e in await read_topic(bootstrap, settings.topics.events)}
        missing = {r["request_id"] for r in records} - routed
        assert not missing, f"{len(missing)} of {BACKLOG} requests never routed"
    finally:
        second.kill()
