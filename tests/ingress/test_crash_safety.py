"""Killing the ingress loses nothing it acknowledged; a graceful stop finishes in-flight work."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import aiohttp
import pytest

from fasthook.embedded import free_port
from tests.support.ingress import declare_source
from tests.support.kafka import read_topic
from tests.support.processes import ServiceProcess

TOTAL = 2000
KILL_AT = 600
WORKERS = 16


@pytest.fixture
def ingress_process(settings, tmp_path):
    process = ServiceProcess(
        "ingress",
        settings.with_(ingress_port=free_port(), ingress_metrics_port=free_port()),
        tmp_path / "ingress.log",
    )
    process.start()
    yield process
    process.kill()


async def test_sigkill_mid_stream_loses_no_acknowledged_request(
    ingress_process, producer, settings, bootstrap
):
    source = await declare_source(producer, settings)
    base = ingress_process.settings.public_base_url
    await ingress_process.wait_ready(base + "/readyz")
    url = f"{base}/{source['token']}/twilio/status"
    acknowledged: list[str] = []
    outcomes: Counter[str] = Counter()
    sent = 0
    killed = asyncio.Event()
    kill_now = asyncio.Event()

    async def killer() -> None:
        await kill_now.wait()
        ingress_process.kill()
        killed.set()
        ingress_process.start()

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        while sent < TOTAL:
            sent += 1
            body = f"MessageSid=SM{sent:032d}&MessageStatus=delivered&ErrorCode=".encode()
            try:
                async with http.post(
                    url,
                    data=body,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Connection": "close",
                    },
                ) as response:
                    await response.read()
                    outcomes[str(response.status)] += 1
                    if response.status == 200:
                        acknowledged.append(response.headers["x-fasthook-request-id"])
                        if len(acknowledged) == KILL_AT:
                            kill_now.set()
            except aiohttp.ClientConnectorError as exc:
                # Nothing listens (the ingress is restarting, slower on a loaded machine): the
                # request never reached it, so it does not use up the budget of TOTAL.
                outcomes[type(exc).__name__] += 1
                sent -= 1
                await asyncio.sleep(0.02)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcomes[type(exc).__name__] += 1
                await asyncio.sleep(0.02)  # the ingress is restarting; don't spin

    connector = aiohttp.TCPConnector(force_close=True, limit=WORKERS)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=20)
    ) as http:
        await asyncio.wait_for(
            asyncio.gather(killer(), *(client(http) for _ in range(WORKERS))), 240
        )
    assert killed.is_set()
    after_restart = len(acknowledged) - KILL_AT
    assert after_restart > 200, (outcomes, "too few requests were answered after the restart")

    records = await read_topic(
        bootstrap, settings.topics.requests, expect=len(acknowledged), timeout_s=60
    )
    stored = Counter(r["request_id"] for r in records)
    lost = [rid for rid in acknowledged if rid not in stored]
    assert lost == [], f"{len(lost)} acknowledged requests lost; outcomes {outcomes}"
    print(f"acknowledged={len(acknowledged)} stored={len(records)} outcomes={dict(outcomes)}")


async def test_sigterm_finishes_requests_in_flight(ingress_process, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    base = ingress_process.settings.public_base_url
    await ingress_process.wait_ready(base + "/readyz")
    url = f"{base}/{source['token']}/slow"
    body_sent = asyncio.Event()
    release = asyncio.Event()

    async def slow_body():
        yield b"first-half&"
        body_sent.set()
        await release.wait()
        yield b"second-half"

    async def upload():
        async with aiohttp.ClientSession() as http, http.post(url, data=slow_body()) as r:
            return r.status, r.headers.get("x-fasthook-request-id")

    pending = asyncio.create_task(upload())
    await asyncio.wait_for(body_sent.wait(), 10)
    await asyncio.sleep(0.2)  # let the handler start reading: the request is now in flight
    ingress_process.signal(signal.SIGTERM)
    await asyncio.sleep(0.3)  # the server is now shutting down, waiting for the handler
    release.set()
    status, request_id = await asyncio.wait_for(pending, 20)
    assert status == 200
    assert await ingress_process.wait_exit(20) == 0
    records = await read_topic(bootstrap, settings.topics.requests, expect=1)
    assert records[0]["request_id"] == request_id
    assert records[0]["body"] == b"first-half&second-half"
