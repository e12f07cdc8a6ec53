"""The ingress app factory: wires the source view, the producer and the probes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ingress.keys import BROKER, FOLLOWER, METRICS, PRODUCER, SETTINGS, SOURCES
from ingress.metrics import IngressMetrics
from ingress.routes import SOURCE_ROUTES
from ingress.sources import SourceView
from runtime.kafka import BrokerWatch, ConfigFollower, make_producer
from runtime.probes import probe_routes
from runtime.secrets import SecretBox
from runtime.serve import track_in_flight
from runtime.settings import Settings


async def kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    producer = make_producer(settings.kafka_bootstrap)
    await producer.start()
    app[PRODUCER] = producer
    watch = BrokerWatch(producer.client)
    await watch.check()
    watch.start()
    app[BROKER] = watch
    follower = ConfigFollower(
        settings.kafka_bootstrap, settings.topics.config, app[SOURCES].apply
    )
    await follower.start()
    app[FOLLOWER] = follower
    yield
    await follower.stop()
    await watch.stop()
    # Flushes what handlers already handed over, so a graceful stop loses nothing.
    await producer.stop()


def create_app(settings: Settings) -> web.Application:
    # The handler reads the body itself, with its own limit and a 413 of our making.
    app = web.Application(
        client_max_size=settings.max_body_bytes + 1,
        # Providers send many and long headers (signatures, tokens, traces): aiohttp's
        # defaults would answer 400 before FastHook could record the request.
        handler_args={
            "max_headers": settings.max_headers,
            "max_field_size": settings.max_header_bytes,
            "max_line_size": settings.max_header_bytes,
        },
    )
    app[SETTINGS] = settings
    app[SOURCES] = SourceView(SecretBox(settings.secret_key))
    app[METRICS] = IngressMetrics()

    def readiness() -> dict[str, bool]:
        follower = app.get(FOLLOWER)
        broker = app.get(BROKER)
        return {
            "config_view_loaded": follower is not None and follower.healthy,
            "broker_reachable": broker is not None and broker.reachable,
        }

    track_in_flight(app)
    app.cleanup_ctx.append(kafka_ctx)
    app.add_routes(probe_routes(app[METRICS].registry, readiness))
    app.add_routes(SOURCE_ROUTES)
    return app
