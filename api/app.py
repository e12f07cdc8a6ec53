"""The control-plane app factory: config view, writer, auth, routes and probes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from api.config_log import ConfigStore
from api.keys import BOX, BROKER, FOLLOWER, PRODUCER, SETTINGS, STORE, VIEW
from api.middlewares import authenticate, problems
from api.openapi import openapi_json
from api.routes import api_routes
from api.view import ConfigView
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
    app[STORE] = ConfigStore(producer, settings.topics.config, app[VIEW])
    follower = ConfigFollower(settings.kafka_bootstrap, settings.topics.config, app[VIEW].apply)
    await follower.start()
    app[FOLLOWER] = follower
    yield
    await follower.stop()
    await watch.stop()
    await producer.stop()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[problems, authenticate], client_max_size=2 * 1024 * 1024)
    app[SETTINGS] = settings
    app[BOX] = SecretBox(settings.secret_key)
    app[VIEW] = ConfigView()
    registry = CollectorRegistry()

    def readiness() -> dict[str, bool]:
        follower = app.get(FOLLOWER)
        broker = app.get(BROKER)
        return {
            "config_view_loaded": follower is not None and follower.healthy,
            "broker_reachable": broker is not None and broker.reachable,
        }

    track_in_flight(app)
    app.cleanup_ctx.append(kafka_ctx)
    app.add_routes(probe_routes(registry, readiness))
    app.add_routes([web.get("/v1/openapi.json", openapi_json)])
    app.add_routes(api_routes())
    return app
