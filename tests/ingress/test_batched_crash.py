"""Batching in the ingress's producer (a window's records on one partition, in one batch) does
not let a crash lose or reorder what the ingress acknowledged."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from fasthook.embedded import free_port
from schemas.codec import decode
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic
from tests.support.processes import ServiceProcess

CLIENTS = 8
KILL_AT = 300
TOTAL_ACKED = 900


async def test_sigkill_mid_batches_loses_and_reorders_nothing_acknowledged(
    producer, settings, bootstrap, tmp_path
) -> None:
    process = ServiceProcess(
        "ingress",
        settings.with_(ingress_port=free_port(), ingress_metrics_port=free_port()),
        tmp_path / "ingress.log",
    )
    process.start()
    try:
        source = await declare_source(producer, settings)
        base = process.settings.public_base_url
        await process.wait_ready(base + "/readyz")
        url = f"{base}/{source['token']}/twilio/status"
        # Per client, its acknowledged request ids in the order the 200s came: each client
        # sends its next request only after the previous answer, so a later one was handed
        # to the producer after an earlier one was stored.
        acked: dict[int, list[str]] = {c: [] for c in range(CLIENTS)}
        outcomes: Counter[str] = Counter()
        kill_now = asyncio.Event()
        restarted = asyncio.Event()
        at_kill: list[int] = []

        def total() -> int:
            return sum(len(ids) for ids in acked.values())

        async def killer() -> None:
            await kill_now.wait()
            process.kill()
            at_kill.append(total())
            process.start()
            restarted.set()

        async def client(number: int, http: aiohttp.ClientSession) -> None:
            sent = 0
            while total() < TOTAL_ACKED:
                sent += 1
                body = f"MessageSid=SM{number:04d}{sent:028d}&MessageStatus=sent".encode()
                try:
                    async with http.post(
                        url,
                        data=body,
                        headers={
                            "Content-Type": "application/x-www-form-urlencoded",
                        },
                    ) as response:
                        await response.read()
                        outcomes[str(response.status)] += 1
                        if response.status == 200:
                            acked[number].append(response.headers["x-fasthook-request-id"])
                            if total() >= KILL_AT:
                                kill_now.set()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcomes[type(exc).__name__] += 1
                    await asyncio.sleep(0.02)  # the ingress is restarting; don't spin

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            await asyncio.wait_for(
                asyncio.gather(killer(), *(client(c, http) for c in range(CLIENTS))), 240
            )
        assert restarted.is_set()
        assert total() - at_kill[0] >= 200, (outcomes, "too few answered after the restart")

        messages = await read_topic(
            bootstrap, settings.topics.requests, expect=total(), timeout_s=60, raw=True
        )
        # The first copy of each request: a batch the killed process's producer retried
        # could only be stored once more, later (idempotent producer).
        where: dict[str, tuple[int, int]] = {}
        for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
            where.setdefault(decode(m.value)["request_id"], (m.partition, m.offset))
        lost = [rid for ids in acked.values() for rid in ids if rid not in where]
        assert lost == [], f"{len(lost)} acknowledged requests lost; outcomes {outcomes}"
        # Within a partition, one client's requests are stored in the order it was answered.
        shared = 0
        for ids in acked.values():
            last: dict[int, int] = {}
            for rid in ids:
                partition, offset = where[rid]
                assert offset > last.get(partition, -1), (rid, partition, offset, last)
                shared += partition in last
                last[partition] = offset
        assert shared > 0, "no client had two requests on one partition: nothing was compared"
        print(f"acknowledged={total()} stored={len(messages)} outcomes={dict(outcomes)}")
    finally:
        process.kill()
