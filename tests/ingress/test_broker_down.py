"""Nothing is acknowledged that is not stored: broker down → 503 + Retry-After; back → 200."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from fasthook.embedded import EmbeddedBroker
from runtime.kafka import ensure_topics, make_producer
from tests.support.http import send_raw
from tests.support.ingress import declare_source, start_ingress
from tests.support.kafka import read_topic
from tests.support.poll import eventually

FORM = [("Content-Type", "application/x-www-form-urlencoded")]


@pytest.fixture
def own_broker(tmp_path):
    """A broker of this test's own, since the test stops it."""
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.start()
    yield broker
    broker.stop()


async def test_broker_down_answers_503_then_recovers(own_broker, settings):
    settings = settings.with_(kafka_bootstrap=own_broker.bootstrap, produce_timeout_s=2.0)
    await ensure_topics(own_broker.bootstrap, settings.topics)
    producer = make_producer(own_broker.bootstrap)
    await producer.start()
    try:
        source = await declare_source(producer, settings)
    finally:
        await producer.stop()
    ingress = await start_ingress(settings)
    try:
        await ingress.wait_for_source(source)
        url = ingress.source_url(source)
        before = await send_raw(url, "POST", FORM, b"n=1")
        assert before.status == 200

        await asyncio.to_thread(own_broker.stop)
        down = await send_raw(url, "POST", FORM, b"n=2")
        assert down.status == 503
        assert down.header("Retry-After") == str(settings.retry_after_s)
        assert down.header("x-fasthook-request-id").startswith("req_")

        async def not_ready():
            async with (
                aiohttp.ClientSession() as http,
                http.get(url.rsplit("/", 1)[0] + "/readyz") as r,
            ):
                return r.status == 503

        await eventually(not_ready, 10, "/readyz turning 503")
        assert (await send_raw(url, "POST", FORM, b"n=3")).status == 503

        await asyncio.to_thread(own_broker.start)

        async def accepted():
            response = await send_raw(url, "POST", FORM, b"n=4")
            return response if response.status == 200 else None

        after = await eventually(accepted, 30, "a 200 after the broker came back")

        records = await read_topic(own_broker.bootstrap, settings.topics.requests)
        stored = {r["request_id"] for r in records}
        assert before.header("x-fasthook-request-id") in stored
        assert after.header("x-fasthook-request-id") in stored
    finally:
        await ingress.close()
