"""Handing routing outcomes to the producer: an event, an ignored event, or a dedupe candidate.

Each send returns the produce future: the caller commits a request's offset only once every
future of its outcomes is resolved (the record stored, acks=all).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from router.metrics import RouterMetrics
from router.routing import Ignored, Routed
from schemas.codec import encode
from schemas.topics import Topics

# The dedupe window travels with a candidate, so the deduplicating side needs no config view.
WINDOW_HEADER = "fasthook-dedupe-window-ms"

Stored = asyncio.Future[object]  # a produce future: resolved once the broker stored the record


@dataclass
class Emitter:
    producer: AIOKafkaProducer
    topics: Topics
    metrics: RouterMetrics
    # Told when a candidate goes to the dedupe topic: the dedupe consumer rests long when idle.
    candidate_sent: Callable[[], None] = lambda: None

    async def emit(self, outcome: Routed | Ignored) -> Stored:
        if isinstance(outcome, Ignored):
            self.metrics.count(self.metrics.outcomes, outcome.record["cause"])
            return await self._send(
                self.topics.ignored,
                outcome.record["request_id"],
                encode("EventIgnored", outcome.record),
            )
        if outcome.dedupe is not None:
            key, window_ms = outcome.dedupe
            stored = await self._send(
                self.topics.router_dedupe,
                key,
                encode("EventCreated", outcome.event),
                [(WINDOW_HEADER, str(window_ms).encode())],
            )
            self.candidate_sent()
            return stored
        self.metrics.count(self.metrics.outcomes, "EVENT")
        return await self._send(
            self.topics.events, outcome.event["event_id"], encode("EventCreated", outcome.event)
        )

    async def _send(
        self,
        topic: str,
        key: str,
        value: bytes,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Stored:
        # `send` returns once the record is in the producer's buffer (it waits only when the
        # buffer is full); the future it returns resolves when the broker stored it.
        stored: Stored = await self.producer.send(topic, value, key=key.encode(), headers=headers)
        return stored
