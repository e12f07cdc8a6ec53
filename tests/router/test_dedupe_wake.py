"""The dedupe consumer rests long when idle, yet reads a candidate its own worker routed at once:
the emitter wakes it (router.emitting.Emitter.candidate_sent)."""

from __future__ import annotations

import asyncio
import time

from router.deduplicating import IDLE_HOLD_MAX_S, DedupeConsumer
from router.emitting import Emitter
from router.metrics import RouterMetrics
from router.routing import Routed
from runtime.resting import RestingFetcher
from schemas.ids import new_id
from tests.support.kafka import read_topic
from tests.support.resting import rest_long


def candidate_event(now_ms: int) -> dict[str, object]:
    return {
        "event_id": new_id("evt"),
        "request_id": new_id("req"),
        "team_id": "team_1",
        "source_id": "src_1",
        "connection_id": "web_1",
        "destination_id": "des_1",
        "created_at": now_ms,
        "due_at": now_ms,
        "attempt_number": 1,
        "trigger": "INITIAL",
        "source_url": "http://127.0.0.1/x",
        "request": {"method": "POST", "path": "/", "query": "", "body": b"a=1", "headers": []},
        "bulk_id": None,
    }


async def test_a_candidate_routed_here_wakes_the_resting_dedupe_consumer(settings, producer):
    crashed: list[bool] = []
    emitter = Emitter(producer, settings.topics, RouterMetrics())
    dedupe = DedupeConsumer(settings, producer, emitter, lambda: crashed.append(True))
    emitter.candidate_sent = dedupe.wake
    await dedupe.start()
    try:
        fetcher = dedupe.consumer._fetcher
        assert isinstance(fetcher, RestingFetcher)
        assert fetcher.hold_max_s == IDLE_HOLD_MAX_S
        deadline = time.monotonic() + 30
        while not dedupe.assignment() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await rest_long(fetcher)  # as after a silence of hours: a 30 s hold

        event = candidate_event(int(time.time() * 1000))
        stored = await emitter.emit(Routed(event, dedupe=("web_1:k", 60_000)))
        await stored
        # Let through as the first of its key, well within the 30 s it would otherwise rest.
        passed = await read_topic(settings.kafka_bootstrap, settings.topics.events, expect=1)
        assert [e["event_id"] for e in passed] == [event["event_id"]]
        assert not crashed
    finally:
        await dedupe.stop(5)
