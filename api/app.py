"""The control-plane app factory: config view, writer, auth, routes and probes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from api.app_keys import BOX, KAFKA, SETTINGS, STORE, VIEW
from api.config_log import ConfigStore
from api.forward import forwarded_routes, http_ctx
from api.listen import install as install_relay
from api.middlewares import authenticate, problems
from api.openapi import openapi_json
from api.routes import api_routes
from api.view import ConfigView
from runtime.kafka import not_started, service_kafka
from runtime.probes import probe_routes
from runtime.secrets import SecretBox
from runtime.serve import track_in_flight
from runtime.settings import Settings


async def kafka_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with service_kafka(
        settings.kafka_bootstrap, settings.topics.config, app[VIEW].apply
    ) as kafka:
        app[KAFKA] = kafka
        app[STORE] = ConfigStore(kafka.producer, settings.topics.config, app[VIEW], kafka.follower)
        yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[problems, authenticate], client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    app[BOX] = SecretBox(settings.secret_key)
    app[VIEW] = ConfigView()
    registry = CollectorRegistry()

    def readiness() -> dict[str, bool]:
        kafka = app.get(KAFKA)
        return kafka.readiness() if kafka else not_started()

    track_in_flight(app)
    app.cleanup_ctx.append(kafka_ctx)
    app.cleanup_ctx.append(http_ctx)
    app.add_routes(probe_routes(registry, readiness))
    app.add_routes([web.get("/v1/openapi.json", openapi_json)])
    app.add_routes(api_routes())
    app.add_routes(forwarded_routes())
    install_relay(app)
    return app
