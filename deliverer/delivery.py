"""What happens to each record the deliverer reads.

- events: cancel (connection or destination disabled or deleted), hold (paused connection),
  defer (not due yet: to the retry tier that fits), or deliver — then record the attempt and
  schedule the next one if the retry rule says so.
- retry tiers: wait until the event is due, hand it back to the events topic.
- held: wait until the connection is unpaused, hand the event back with trigger UNPAUSE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from deliverer.attempts import attempt_id, decide, failed_without_request
from deliverer.http_client import HttpClient
from deliverer.limits import DestinationLimits
from deliverer.metrics import DelivererMetrics
from deliverer.outgoing import build_request
from deliverer.parking import parked_event, parking_tier
from deliverer.relay import RelayClient, addressed, is_cli
from deliverer.sending import send
from deliverer.ssrf import DestinationGuard
from deliverer.view import ConnectionState, DeliveryView, is_disabled
from runtime.batching import RecordBatcher
from runtime.consuming import INFRASTRUCTURE_ERRORS
from runtime.settings import Settings
from schemas.codec import decode, encode
from schemas.errors import SchemaError

log = logging.getLogger(__name__)

# Due within this much: deliver now rather than round-trip through a tier.
DUE_SLACK_MS = 20
# Attempt ids made lately, to recognise a second copy of one (ids: ~40 bytes each).
REMEMBERED_ATTEMPTS = 100_000


def now_ms() -> int:
    return int(time.time() * 1000)


class Delivery:
    def __init__(
        self,
        settings: Settings,
        view: DeliveryView,
        producer: AIOKafkaProducer,
        session: HttpClient,
        guard: DestinationGuard,
        metrics: DelivererMetrics,
        sync_view: Callable[[], Awaitable[None]],
        relay: RelayClient | None = None,
        attempts: RecordBatcher | None = None,
    ) -> None:
        self.sync_view = sync_view
        self.relay = relay or RelayClient(settings)
        self.settings = settings
        self.topics = settings.topics
        self.view = view
        self.producer = producer
        # Attempt records go in a batch per partition per window when given one (the app
        # does), else one `send_and_wait` each; either way each returns once stored.
        self._store_attempt: Callable[..., Awaitable[None]] = (
            attempts.send_and_wait
            if attempts is not None
            else partial(producer.send_and_wait, self.topics.attempts)
        )
        self.session = session
        self.guard = guard
        self.metrics = metrics
        self.limits = DestinationLimits(
            settings.destination_max_in_flight, settings.deliverer_max_in_flight
        )
        self._unpaused: dict[str, asyncio.Event] = {}
        self._attempted: OrderedDict[str, None] = OrderedDict()
        view.on_release = self._wake
        # Called once an event is stored on a waiting topic (a retry tier, held) and when a
        # connection is released: the app wakes the waiting topics' resting consumer.
        self.on_waiting: Callable[[], None] = lambda: None

    # --- shared -----------------------------------------------------------------------
    async def _publish(
        self, topic: str, key: str, record_name: str, record: dict[str, Any]
    ) -> None:
        await self.producer.send_and_wait(topic, encode(record_name, record), key=key.encode())

    async def _schedule(self, event: dict[str, Any]) -> None:
        """An event due later waits on the largest retry tier that fits (the smallest for a
        wait shorter than every tier): never in an events slot, which other events need."""
        tier = parking_tier(max(0, event["due_at"] - now_ms()))
        self.metrics.scheduled.labels(str(tier)).inc()
        await self._publish(self.topics.retry(tier), event["event_id"], "EventCreated", event)
        self.on_waiting()

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
        try:
            await self._handle_event(event)
        except INFRASTRUCTURE_ERRORS:
            raise  # the broker is away: the consumer tries this record again
        except Exception as exc:
            # A bug in handling this one event: it ends as a recorded failure, never as a
            # record tried for ever (which would hold its partition).
            log.exception("event not deliverable", extra={"event_id": event["event_id"]})
            await self._record(
                failed_without_request(
                    event, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"[:500], now_ms()
                )
            )

    async def _handle_event(self, event: dict[str, Any]) -> None:
        # Checked again after any wait in memory: a connection may be paused, disabled or
        # deleted while its event waits to be due.
        while True:
            connection = self.view.connections.get(event["connection_id"])
            if connection is None:
                # Created a moment ago, perhaps: the router may have seen it before we did.
                await self.sync_view()
                connection = self.view.connections.get(event["connection_id"])
            if await self._cancelled(event, connection):
                return
            assert connection is not None
            if connection.paused:
                self.metrics.held.inc()
                await self._publish(self.topics.held, event["connection_id"], "EventCreated", event)
                self.on_waiting()
                return
            if event["due_at"] - now_ms() <= DUE_SLACK_MS:
                break
            await self._schedule(event)
            return
        # A copy of an attempt this worker made (or is making): a crash after a retry was
        # scheduled but before the offset was committed schedules it twice. One copy goes.
        key = attempt_id(event)
        if key in self._attempted:
            log.info("copy of an attempt already made; skipped", extra={"attempt_id": key})
            return
        self._attempted[key] = None
        try:
            attempted = await self.deliver(event, connection.retry, key)
        except BaseException:
            del self._attempted[key]  # not made after all: a retry of this record makes it
            raise
        if not attempted:
            del self._attempted[key]  # parked: this same attempt comes back to be made
        while len(self._attempted) > REMEMBERED_ATTEMPTS:
            self._attempted.popitem(last=False)

    async def _cancelled(self, event: dict[str, Any], connection: ConnectionState | None) -> bool:
        """Record the cancellation when the event's connection or destination no longer
        delivers (disabled or deleted); True when it was cancelled."""
        destination = self.view.destinations.get(event["destination_id"])
        if destination is None:
            await self.sync_view()
            destination = self.view.destinations.get(event["destination_id"])
        if connection is None:
            reason = ("CONNECTION_DELETED", "the connection no longer exists")
        elif connection.disabled:
            reason = ("CONNECTION_DISABLED", "the connection is disabled")
        elif destination is None:
            reason = ("DESTINATION_DELETED", "the destination no longer exists")
        elif is_disabled(destination):
            reason = ("DESTINATION_DISABLED", "the destination is disabled")
        else:
            return False
        await self._record(failed_without_request(event, *reason, now_ms()))
        return True

    async def deliver(
        self,
        event: dict[str, Any],
        retry_rule: dict[str, Any] | None,
        attempt_key: str | None = None,
    ) -> bool:
        """One attempt of `event`, recorded; False when it was parked instead (its destination
        has no room: the same attempt comes back later). `attempt_key`: its attempt id, when
        known."""
        destination = self.view.destinations.get(event["destination_id"])
        if destination is None:
            await self.sync_view()
            destination = self.view.destinations.get(event["destination_id"])
        if destination is None:
            await self._record(
                failed_without_request(
                    event, "DESTINATION_DELETED", "the destination no longer exists", now_ms()
                )
            )
            return True
        timeout_s = (destination.get("config") or {}).get("timeout_ms", 30_000) / 1000
        async with self.limits.slot(destination, event["event_id"]) as park_s:
            if park_s is not None:
                await self._park(event, park_s)
                return False
            cli = is_cli(destination)
            try:
                request = build_request(
                    event,
                    addressed(destination) if cli else destination,
                    self.view.signing_secrets(event["team_id"]),
                    int(time.time()),
                )
            except (ValueError, KeyError, TypeError) as exc:
                # A credential or signing secret missing, an unknown auth type: as built, the
                # request cannot go, and trying again will not change that.
                await self._record(
                    failed_without_request(
                        event,
                        "INVALID_REQUEST",
                        f"the request cannot be built: {exc}"[:500],
                        now_ms(),
                    )
                )
                return True
            self.metrics.sending += 1
            try:
                if cli:  # only the transport differs: through the API's relay
                    outcome = await self.relay.send(request, destination["id"], timeout_s)
                else:
                    outcome = await send(self.session, request, timeout_s, self.guard)
            finally:
                self.metrics.sending -= 1
        self.metrics.latency.observe(outcome.latency_ms / 1000)
        decision = decide(event, request, outcome, retry_rule, now_ms(), attempt_key)
        # Recorded first: a crash before the retry is scheduled re-runs this attempt under the
        # same id and schedules once; scheduling first would leave a retry chain behind that
        # the re-run starts a second time.
        await self._record(decision.attempt)
        if decision.retry is not None:
            await self._schedule(decision.retry)
        return True

    async def _park(self, event: dict[str, Any], wait_s: float) -> None:
        """Its destination has no room: the event waits on a retry tier, not in a slot."""
        parked = parked_event(event, now_ms(), wait_s)
        self.metrics.parked.inc()
        await self._schedule(parked)

    async def _record(self, attempt: dict[str, Any]) -> None:
        self.metrics.attempt(attempt["status"], attempt["error_code"])
        await self._store_attempt(
            encode("AttemptRecorded", attempt), key=attempt["event_id"].encode()
        )

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
        self.on_waiting()  # held events not read yet are read at once

    async def handle_held(self, record: ConsumerRecord) -> None:
        event = self._decode(record)
        if event is None:
            return
        # Released when unpaused, and when disabled or deleted: then handle_event cancels it.
        while (state := self.view.connections.get(event["connection_id"])) and (
            state.paused and not state.disabled
        ):
            waiter = self._unpaused.setdefault(event["connection_id"], asyncio.Event())
            await waiter.wait()
        released = {**event, "trigger": "UNPAUSE", "due_at": now_ms()}
        await self._publish(self.topics.events, event["event_id"], "EventCreated", released)
