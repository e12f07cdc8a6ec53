"""`fasthook run --workers 2`: two ingress processes answer on the one public port, two routers
and two deliverers share their consumer groups, every callback is delivered — and a router
worker SIGKILLed mid-stream is restarted on its own, with every request still delivered under
one event id; the next run with one worker of each still routes every partition."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from functools import partial

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from fasthook.workers import PORT_STRIDE
from schemas.topics import CATALOG
from tests.support.poll import eventually
from tests.support.receiver import Receiver
from tests.support.supervised import SupervisedStack

WORKERS = 2
PARTITIONS = {spec.suffix: spec.partitions for spec in CATALOG}
BATCH = 60  # callbacks per wave: one before the kill, one while the worker is down


async def group_assignment(bootstrap: str, group: str) -> list[set[tuple[str, int]]]:
    """The partitions each member of a consumer group holds, as the broker describes it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (found,) = described.to_object()["groups"]
    return [
        # Empty while the group rebalances: that member holds nothing yet.
        set(ConsumerProtocolMemberAssignment.decode(member["member_assignment"]).partitions())
        if member["member_assignment"]
        else set()
        for member in found["members"]
    ]


async def shared(bootstrap: str, group: str, suffix: str) -> bool:
    """Every worker of the group holds some of the topic's partitions, and all are held."""
    held = await group_assignment(bootstrap, group)
    topic = f"fasthook.{suffix}"
    return (
        len(held) == WORKERS
        and all(held)
        and set.union(*held) == {(topic, p) for p in range(PARTITIONS[suffix])}
    )


async def send_wave(http: aiohttp.ClientSession, url: str, count: int) -> list[str]:
    """Twilio-like callbacks, each on a new connection (as Twilio sends them): the kernel
    spreads connections, not requests, over the processes sharing the port."""

    async def one(i: int) -> str:
        async with http.post(
            url,
            data={"MessageStatus": "delivered", "MessageSid": f"SM{i:032d}"},
            headers={"X-Twilio-Signature": f"sig{i}", "Connection": "close"},
        ) as response:
            assert response.status == 200, await response.text()
            return response.headers["x-fasthook-request-id"]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def scraped(http: aiohttp.ClientSession, url: str) -> float:
    """The requests one ingress process answered, from its own /metrics."""
    async with http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return sum(
        float(match.group(1))
        for match in re.finditer(r"^fasthook_ingress_requests_total\{[^}]*\} (\S+)$", text, re.M)
    )


async def all_delivered_once(receiver: Receiver, expected: set[str]) -> None:
    """Every request reached the receiver; one that came twice (at-least-once, after a kill)
    came under one event id."""
    deadline = time.monotonic() + 120

    def delivered() -> set[str]:
        return {r.header("x-fasthook-request-id") or "" for r in receiver.received}

    while expected - delivered() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    missing = expected - delivered()
    assert not missing, f"{len(missing)} of {len(expected)} callbacks never delivered"
    event_ids: dict[str, set[str]] = {}
    for received in receiver.received:
        request_id = received.header("x-fasthook-request-id") or ""
        event_ids.setdefault(request_id, set()).add(received.header("x-fasthook-event-id") or "")
    assert all(len(event_ids[r]) == 1 for r in expected), event_ids


async def test_two_workers_of_each_share_the_port_and_the_groups_and_survive_a_kill(tmp_path):
    receiver = await Receiver().start()
    stack = SupervisedStack(tmp_path, "--workers", str(WORKERS), workers=WORKERS)
    try:
        run = await stack.start(timeout_s=180)
        banner = stack.output()
        assert f"{WORKERS} processes on this one port, SO_REUSEPORT" in banner, banner
        assert f"{WORKERS} workers in its consumer groups" in banner, banner
        for service in ("ingress", "router", "deliverer"):
            assert len(stack.worker_pids(service)) == WORKERS, service
        metrics = re.search(r"Ingress metrics:\s+(.+?)\s{3}", banner)
        assert metrics is not None
        metrics_urls = metrics.group(1).split()
        assert len(metrics_urls) == WORKERS, metrics_urls

        auth = {"Authorization": f"Bearer {run['key']}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                run["api"] + "/v1/destinations",
                json={
                    "name": "receiver",
                    "type": "HTTP",
                    "config": {"url": receiver.url + "/status", "http_method": "POST"},
                },
                headers=auth,
            ) as r:
                assert r.status == 201, await r.text()
                destination = await r.json()
            async with http.post(
                run["api"] + "/v1/connections",
                json={
                    "name": "to-receiver",
                    "source_id": run["source_id"],
                    "destination_id": destination["id"],
                },
                headers=auth,
            ) as r:
                assert r.status == 201, await r.text()
            url = run["source_url"] + "/twilio/status"

            # The connection reaches every router's view before the measured waves.
            async def routed_probe() -> bool:
                await send_wave(http, url, 1)
                return bool(receiver.received)

            await eventually(routed_probe, 60, "a first callback delivered", 0.5)

            sent = await send_wave(http, url, BATCH)
            # Both ingress processes answered on the one port.
            answered = [await scraped(http, metrics) for metrics in metrics_urls]
            assert all(count > 0 for count in answered), answered

            # Both routers and both deliverers are members of their groups, sharing the
            # partitions.
            for group, topic in (
                ("fasthook-router", "requests"),
                ("fasthook-deliverer", "events"),
            ):
                # Polled: the group may still be settling its assignment.
                await eventually(
                    partial(shared, stack.bootstrap, group, topic), 60, f"{group} shared", 0.5
                )

            # A router worker killed mid-stream: the supervisor restarts that one alone.
            routers = stack.worker_pids("router")
            victim = routers[-1]
            waves = asyncio.create_task(send_wave(http, url, BATCH))
            await asyncio.sleep(0)
            os.killpg(victim, signal.SIGKILL)
            sent += await waves
            sent += await send_wave(http, url, BATCH)

            async def restarted() -> bool:
                pids = stack.worker_pids("router")
                return len(pids) == WORKERS and victim not in pids and routers[0] in pids

            await eventually(restarted, 60, "the killed router worker restarted", 0.2)
            assert "restarted after a crash" in stack.output()
            # Back in its group under its own name, holding partitions again: the next wave
            # goes through both routers.
            await eventually(
                lambda: stack.ready_at(stack.ports["router"] + PORT_STRIDE),
                60,
                "the restarted router worker ready",
                0.2,
            )
            await eventually(
                lambda: shared(stack.bootstrap, "fasthook-router", "requests"),
                60,
                "both routers holding partitions again",
                0.5,
            )
            sent += await send_wave(http, url, BATCH)

        await all_delivered_once(receiver, set(sent))
        await stack.stop()

        # Back to one worker of each on the same data: the extra workers left their groups
        # when they stopped, so no partition stays with a member that never comes back.
        stack.args = ()
        await stack.start(timeout_s=180)
        assert len(stack.worker_pids("router")) == 1
        async with aiohttp.ClientSession() as http:
            again = await send_wave(http, url, BATCH)
        await all_delivered_once(receiver, set(again))
        await stack.stop()
    finally:
        stack.kill()
        await receiver.stop()
