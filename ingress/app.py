"""The ingress app factory: wires the source view, the producer, the probes and the private
/metrics listener."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ingress.keys import BATCHER, DERIVED, KAFKA, METRICS, PROBES, SETTINGS, SOURCES
from ingress.metrics import IngressMetrics
from ingress.records import Derived
from ingress.routes import SOURCE_ROUTES
from ingress.sources import SourceView
from runtime.batching import RecordBatcher
from runtime.kafka import StickyPartitioner, not_started, service_kafka
from runtime.probes import health_routes, metrics_site
from runtime.secrets import SecretBox
from runtime.serve import track_in_flight
from runtime.settings import Settings, check_limits

# Per partition, what one batch of requests' records may hold (aiokafka's default: 16 KiB, ~25
# Twilio callbacks): a produce request carries one batch per partition, so at the peak the
# records waiting while the request before was in flight took several requests.
PRODUCE_BATCH_BYTES = 512 * 1024
# How long a batch of requests gathers from its first: the ingress's producer linger was 1 ms.
LINGER_S = 0.001
# Batches are made at most this often, each after the previous one's ack: at moderate rates a
# produce request then carries several records, not one or two (each request costs the broker
# and the producer alike).
BATCH_INTERVAL_S = 0.005


def readiness(app: web.Application) -> dict[str, bool]:
    kafka = app.get(KAFKA)
    return kafka.readiness() if kafka else not_started()


async def private_metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # The probes here too: with several ingress processes on the public port (`fasthook run
    # --workers`) a probe there reaches any one of them; here, this one.
    async with metrics_site(
        app[METRICS].registry,
        settings.ingress_metrics_host,
        settings.ingress_metrics_port,
        health_routes(lambda: readiness(app)),
    ):
        yield


async def kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Requests are keyed by their unique id: which partition takes one does not matter, and
    # keeping a window's records on one partition makes one batch of them.
    partitioner = StickyPartitioner()
    async with service_kafka(
        settings.kafka_bootstrap,
        settings.topics.config,
        app[SOURCES].apply,
        # The batcher gathers (LINGER_S); a batch it made cannot grow.
        {"partitioner": partitioner, "max_batch_size": PRODUCE_BATCH_BYTES, "linger_ms": 0},
    ) as kafka:
        app[KAFKA] = kafka
        app[BATCHER] = RecordBatcher(
            kafka.producer,
            app[DERIVED].requests_topic,
            linger_s=LINGER_S,
            partitioner=partitioner,
            per_key=False,
            interval_s=BATCH_INTERVAL_S,
            after_ack=True,
            deadline_s=settings.produce_timeout_s,
        )
        # Not listening until every source is known: a 404 would tell a provider a known
        # source's URL is wrong, while a refused connection is retried (Twilio does).
        await kafka.follower.wait_caught_up()  # the port opens only then
        yield


def create_app(settings: Settings) -> web.Application:
    check_limits(settings)
    # The handler reads the body itself, with its own limit and a 413 of our making.
    app = web.Application(
        client_max_size=settings.max_body_bytes + 1,
        handler_args={
            # The contract's header limits; past them aiohttp answers 400, nothing is stored.
            "max_headers": settings.max_headers,
            "max_field_size": settings.max_header_bytes,
            "max_line_size": settings.max_header_bytes,
            # aiohttp closes a connection whose next request has not fully arrived by then
            # (from the connection's start or the previous answer): the headers deadline
            # against slowloris clients, and the idle keep-alive limit.
            "keepalive_timeout": settings.ingress_header_timeout_s,
        },
    )
    app[SETTINGS] = settings
    app[DERIVED] = Derived(settings.topics.requests, settings.public_base_url)
    app[SOURCES] = SourceView(SecretBox(settings.secret_key))
    app[METRICS] = IngressMetrics()

    # The source handler counts itself (aiohttp's own shutdown stops reading a body still
    # arriving); a middleware around every request cost ~2% of the ingress's CPU.
    track_in_flight(app, middleware=False)
    app.cleanup_ctx.append(private_metrics_ctx)
    app.cleanup_ctx.append(kafka_ctx)
    # Load balancers probe the public port; /metrics (it names every source) is private.
    probes = health_routes(lambda: readiness(app))
    app[PROBES] = probes  # for the lean server (ingress/server.py)
    app.add_routes(probes)
    app.add_routes(SOURCE_ROUTES)
    return app
