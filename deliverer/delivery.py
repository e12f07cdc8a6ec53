"""What happens to each record the deliverer reads.

- events: hold (paused connection), defer (not due yet: to the retry tier that fits), or
  deliver — then record the attempt and schedule the next one if the retry rule says so.
- retry tiers: wait until the event is due, hand it back to the events topic.
- held: wait until the connection is unpaused, hand the event back with trigger UNPAUSE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from deliverer.attempts import decide, failed_without_request
from deliverer.limits import DestinationLimits
from deliverer.metrics import DelivererMetrics
from deliverer.outgoing import build_request
from deliverer.parking import parked_event, parking_tier
from deliverer.retry import tier_for
from deliverer.sending import send
from deliverer.view import DeliveryView
from runtime.settings import Settings
from schemas.codec import decode, encode
from schemas.errors import SchemaError

log = logging.getLogger(__name__)

# Due within this much: deliver now rather than round-trip through a tier.
DUE_SLACK_MS = 20


def now_ms() -> int:
    return int(time.time() * 1000)


class Delivery:
    def __init__(self, settings: Settings, view: DeliveryView, producer: AIOKafkaProducer,
                 session: aiohttp.ClientSession, allow: list[str],
                 metrics: DelivererMetrics, sync_view: Callable[[], Awaitable[None]]) -> None:
        self.sync_view = sync_view
        self.settings = settings
        self.topics = settings.topics
        self.view = view
        self.producer = producer
        self.session = session
        self.allow = allow
        self.metrics = metrics
        self.limits = DestinationLimits(settings.destination_max_in_flight,
                                        settings.deliverer_max_in_flight)
        self._unpaused: dict[str, asyncio.Event] = {}
        view.on_unpause = self._wake

    # --- shared -----------------------------------------------------------------------
    async def _publish(self, topic: str, key: str, record_name: str,
                       record: dict[str, Any]) -> None:
        await self.producer.send_and_wait(topic, encode(record_name, record), key=key.encode())

    async def _schedule(self, event: dict[str, Any]) -> None:
        """An event due later: to the largest retry tier that fits, or back to the events
        topic when it is due sooner than the smallest tier (then it waits in memory)."""
        tier = tier_for(max(0, event["due_at"] - now_ms()))
        topic = self.topics.retry(tier) if tier else self.topics.events
        self.metrics.scheduled.labels(str(tier or 0)).inc()
        await self._publish(topic, event["event_id"], "EventCreated", event)

    @staticmethod
    def _decode(record: ConsumerRecord) -> dict[str, Any] | None:
        try:
            return decode(record.value, "EventCreated")
        except SchemaError:
            log.exception("unreadable event skipped", extra={"offset": record.offset})
            return None

    # --- events -----------------------------------------------------------------------
    async def handle_event(self, record: ConsumerRecord) -> None:
        event = self._decode(record)
        if event is None:
            return
        connection = self.view.connections.get(event["connection_id"])
        if connection is None:
            # Created a moment ago, perhaps: the router may have seen it before we did.
            await self.sync_view()
            connection = self.view.connections.get(event["connection_id"])
        if connection is None:
            await self._record(failed_without_request(
                event, "CONNECTION_DELETED", "the connection no longer exists", now_ms()))
            return
        if connection.paused:
            self.metrics.held.inc()
            await self._publish(self.topics.held, event["connection_id"], "EventCreated", event)
            return
        wait_ms = event["due_at"] - now_ms()
        if wait_ms > DUE_SLACK_MS:
            if tier_for(wait_ms) is not None:
                await self._schedule(event)
                return
            await asyncio.sleep(wait_ms / 1000)
        await self.deliver(event, connection.retry)

    async def deliver(self, event: dict[str, Any], retry_rule: dict[str, Any] | None) -> None:
        destination = self.view.destinations.get(event["destination_id"])
        if destination is None:
            await self.sync_view()
            destination = self.view.destinations.get(event["destination_id"])
        if destination is None:
            await self._record(failed_without_request(
                event, "DESTINATION_DELETED", "the destination no longer exists", now_ms()))
            return
        timeout_s = (destination.get("config") or {}).get("timeout_ms", 30_000) / 1000
        async with self.limits.slot(destination, event["event_id"]) as park_s:
            if park_s is not None:
                await self._park(event, park_s)
                return
            request = build_request(event, destination,
                                    self.view.signing_secrets(event["team_id"]),
                                    int(time.time()))
            self.metrics.in_flight.inc()
            try:
                outcome = await send(self.session, request, timeout_s, self.allow)
            finally:
                self.metrics.in_flight.dec()
        self.metrics.latency.observe(outcome.latency_ms / 1000)
        decision = decide(event, request, outcome, retry_rule, now_ms())
        if decision.retry is not None:
            await self._schedule(decision.retry)
        await self._record(decision.attempt)

    async def _park(self, event: dict[str, Any], wait_s: float) -> None:
        """Its destination has no room: the event waits on a retry tier, not in a slot."""
        parked = parked_event(event, now_ms(), wait_s)
        self.metrics.parked.inc()
        tier = parking_tier(parked["due_at"] - parked["created_at"])
        await self._publish(self.topics.retry(tier), event["event_id"], "EventCreated", parked)

    async def _record(self, attempt: dict[str, Any]) -> None:
        self.metrics.attempts.labels(attempt["status"], attempt["error_code"] or "").inc()
        await self._publish(self.topics.attempts, attempt["event_id"], "AttemptRecorded",
                            attempt)

    # --- retry tiers ------------------------------------------------------------------
    async def handle_due(self, record: ConsumerRecord) -> None:
        event = self._decode(record)
        if event is None:
            return
        wait_ms = event["due_at"] - now_ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        await self.producer.send_and_wait(self.topics.events, record.value, key=record.key)

    # --- held -------------------------------------------------------------------------
    def _wake(self, connection_id: str) -> None:
        self._unpaused.pop(connection_id, asyncio.Event()).set()

    async def handle_held(self, record: ConsumerRecord) -> None:
        event = self._decode(record)
        if event is None:
            return
        while (state := self.view.connections.get(event["connection_id"])) and state.paused:
            waiter = self._unpaused.setdefault(event["connection_id"], asyncio.Event())
            await waiter.wait()
        released = {**event, "trigger": "UNPAUSE", "due_at": now_ms()}
        await self._publish(self.topics.events, event["event_id"], "EventCreated", released)
