"""The deliverer app factory: config view, HTTP client, its two consumers (events; the waiting
topics: held and the retry tiers), and probes.

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
from deliverer.waiting import WaitingConsumer
from runtime.batching import RecordBatcher
from runtime.consuming import ConcurrentConsumer
from runtime.kafka import ServiceKafka, not_started, service_kafka
from runtime.probes import probe_routes
from runtime.secrets import SecretBox
from runtime.settings import Settings
from schemas.topics import RETRY_TIERS_MS

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
    attempts = RecordBatcher(
        kafka.producer, topics.attempts, linger_s=records_linger_ms(settings) / 1000
    )
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
    waiting = WaitingConsumer(
        settings,
        f"{ns}-deliverer-waiting",
        {
            topics.held: delivery.handle_held,
            **{topics.retry(tier): delivery.handle_due for tier in RETRY_TIERS_MS},
        },
        # The groups that read these topics one each until 2026-11 (runtime.seeding).
        seed_from=[f"{ns}-deliverer-held", *(f"{ns}-deliverer-tier-{t}" for t in RETRY_TIERS_MS)],
        leave_on_stop=leave,
    )
    delivery.on_waiting = waiting.wake
    consumers: list[ConcurrentConsumer] = [
        ConcurrentConsumer(
            settings,
            [topics.events],
            f"{ns}-deliverer",
            delivery.handle_event,
            settings.deliverer_max_in_flight,
            leave_on_stop=leave,
        ),
        waiting,
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
