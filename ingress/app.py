"""The ingress app factory: wires the source view, the producer and the probes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ingress.keys import KAFKA, METRICS, SETTINGS, SOURCES
from ingress.metrics import IngressMetrics
from ingress.routes import SOURCE_ROUTES
from ingress.sources import SourceView
from runtime.kafka import not_started, service_kafka
from runtime.probes import probe_routes
from runtime.secrets import SecretBox
from runtime.serve import track_in_flight
from runtime.settings import Settings


async def kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with service_kafka(settings.kafka_bootstrap, settings.topics.config,
                             app[SOURCES].apply) as kafka:
        app[KAFKA] = kafka
        yield


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
        kafka = app.get(KAFKA)
        return kafka.readiness() if kafka else not_started()

    track_in_flight(app)
    app.cleanup_ctx.append(kafka_ctx)
    app.add_routes(probe_routes(app[METRICS].registry, readiness))
    app.add_routes(SOURCE_ROUTES)
    return app
