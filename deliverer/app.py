"""The deliverer app factory: config view, HTTP client, the three consumers, and probes.

The aiohttp app only serves /healthz, /readyz and /metrics; the work runs in consumers started
and stopped by its cleanup context, so a graceful stop lets in-flight deliveries finish.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from deliverer.delivery import Delivery
from deliverer.keys import CONSUMERS, KAFKA, METRICS, SETTINGS, VIEW
from deliverer.metrics import DelivererMetrics
from deliverer.relay import RelayClient
from deliverer.sending import make_session
from deliverer.ssrf import DestinationGuard
from deliverer.view import DeliveryView
from runtime.batching import BatchingProducer
from runtime.consuming import ConcurrentConsumer, Handler
from runtime.kafka import ServiceKafka, not_started, service_kafka
from runtime.probes import probe_routes
from runtime.resting import BACKGROUND_HOLD_MAX_S
from runtime.secrets import SecretBox
from runtime.settings import Settings
from schemas.topics import RETRY_TIERS_MS

# Events waiting in a tier or for an unpause cost only memory, so many may wait at once.
WAITING_IN_FLIGHT = 10_000
# Held events and a retry tier's wait seconds and more anyway: their idle consumers fetch about
# once a second instead of ten times (six of the deliverer's eight consumers), as the other
# records nobody waits on to the millisecond do (runtime.resting).
WAITING_REST_S = BACKGROUND_HOLD_MAX_S
# A retry tier's records are written by the deliverer alone, and its own process wakes the
# tier's consumer when it writes one (`Delivery.on_scheduled`): the tiers' idle fetches rest
# twice as long again. Only a record another worker wrote (`--workers N`) after the tier was
# quiet for 8 s or more is read up to this late (1 s before): a retry is due a tier's wait
# (5 s or more) after it is written, so only a parked event due sooner can come back later.
TIER_REST_S = 2 * WAITING_REST_S
# Their groups heartbeat every 5 s instead of 2 (five groups: 2.5 heartbeats a second of an idle
# deliverer's ~22 broker requests). What it costs: such a member notices a rebalance (a worker
# joining or leaving) up to 5 s later, and on a real Kafka a crashed worker's held and retry
# partitions move after 20 s instead of 10 — seconds more on records that wait seconds to an
# hour anyway. The events group keeps the defaults: its records are waited for.
WAITING_GROUP_OPTIONS: dict[str, object] = {
    "heartbeat_interval_ms": 5_000,
    "session_timeout_ms": 20_000,
}
# Per partition, what the producer gathers before a send (aiokafka's default: 16 KiB). An
# attempt record is ~1 KiB, so at a few hundred deliveries in flight the 16 KiB batches were
# full: each delivery then waited for its partition's batch to drain, every waiter woken at
# each drain and most sent back to wait (a fifth of the deliverer's CPU in asyncio.wait).
PRODUCE_BATCH_BYTES = 512 * 1024
# Its records follow the delivery they record (attempts, retries, parked and released events;
# the destination's slot is free by then), so a longer linger than the router's costs no
# webhook latency: only its offset's commit waits. Attempts finish at their own times after
# each answer; at a few hundred deliveries a second 5 ms sent a produce request per one or two.
RECORDS_LINGER_MS = 20.0


def records_linger_ms(settings: Settings) -> float:
    return max(settings.produce_linger_ms, RECORDS_LINGER_MS)


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    topics = settings.topics
    # Its records (attempts, retries) are produced after the delivery they follow: a linger
    # delays only the offset's commit, and batches them.
    async with service_kafka(
        settings.kafka_bootstrap,
        topics.config,
        app[VIEW].apply,
        {
            "linger_ms": records_linger_ms(settings),
            "max_batch_size": PRODUCE_BATCH_BYTES,
        },
    ) as kafka:
        app[KAFKA] = kafka
        await kafka.follower.wait_caught_up(60)  # never deliver on a partial view
        async with delivering(app, kafka):
            yield


@asynccontextmanager
async def delivering(app: web.Application, kafka: ServiceKafka) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    topics = settings.topics
    guard = DestinationGuard.for_settings(settings)
    session = make_session(guard, settings.delivery_connect_timeout_s)
    relay = RelayClient(settings)
    # Attempt records gathered as long as the producer lingers anyway: a batch per partition.
    attempts = BatchingProducer(kafka.producer, topics.attempts, records_linger_ms(settings) / 1000)
    delivery = Delivery(
        settings,
        app[VIEW],
        kafka.producer,
        session,
        guard,
        app[METRICS],
        kafka.follower.sync,
        relay,
        attempts,
    )
    ns = settings.topic_namespace
    leave = settings.worker_count("deliverer") > 1

    def waiting(topic: str, group: str, handle: Handler, hold_max_s: float) -> ConcurrentConsumer:
        """A consumer of records that only wait (for their due time, or an unpause)."""
        return ConcurrentConsumer(
            settings,
            [topic],
            f"{ns}-deliverer-{group}",
            handle,
            WAITING_IN_FLIGHT,
            drain_on_stop=False,
            skip_failed=False,
            idle_rest_s=WAITING_REST_S,
            idle_hold_max_s=hold_max_s,
            leave_on_stop=leave,
            consumer_options=WAITING_GROUP_OPTIONS,
        )

    # One consumer per tier: a long wait in one tier never holds up another.
    tiers = {
        tier: waiting(topics.retry(tier), f"tier-{tier}", delivery.handle_due, TIER_REST_S)
        for tier in RETRY_TIERS_MS
    }
    delivery.on_scheduled = lambda tier: tiers[tier].wake()
    consumers = [
        ConcurrentConsumer(
            settings,
            [topics.events],
            f"{ns}-deliverer",
            delivery.handle_event,
            settings.deliverer_max_in_flight,
            leave_on_stop=leave,
        ),
        waiting(topics.held, "held", delivery.handle_held, WAITING_REST_S),
        *tiers.values(),
    ]
    try:
        for consumer in consumers:
            await consumer.start()
        app[CONSUMERS] = consumers
        yield
    finally:
        # Deliveries in flight may finish; records only waiting (for a tier's due time or an
        # unpause) are cancelled at once: uncommitted, they are read again after the restart.
        for consumer in consumers:
            await consumer.stop(settings.shutdown_timeout_s if consumer.drain_on_stop else 0)
        await attempts.flush()
        await session.close()
        await relay.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[VIEW] = DeliveryView(SecretBox(settings.secret_key))
    app[METRICS] = DelivererMetrics()
    DestinationGuard.for_settings(settings)  # a bad setting fails at start

    def readiness() -> dict[str, bool]:
        kafka = app.get(KAFKA)
        consumers = app.get(CONSUMERS)
        return {**(kafka.readiness() if kafka else not_started()), "consuming": bool(consumers)}

    app.cleanup_ctx.append(pipeline_ctx)
    app.add_routes(probe_routes(app[METRICS].registry, readiness))
    return app
