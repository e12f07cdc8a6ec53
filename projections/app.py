"""The projections app: ClickHouse engine (migrated), projector, producer for retries,
query routes and probes, in one process — the embedded engine allows one owner per path."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from projections.analysts.app import analysts_ctx
from projections.bulk import BulkRunner
from projections.clickhouse import Engine, database_name, resolve_dsn
from projections.keys import (
    BROKER,
    BULK,
    DATABASE,
    ENGINE,
    METRICS,
    PRODUCER,
    PROJECTOR,
    SETTINGS,
)
from projections.metrics import ProjectionMetrics
from projections.middlewares import caller_scope, problems
from projections.migrations import migrate
from projections.projector import Projector
from projections.routes import query_routes
from runtime.kafka import producing
from runtime.probes import probe_routes
from runtime.serve import track_in_flight
from runtime.settings import Settings


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = await Engine.open(resolve_dsn(settings))
    await migrate(engine, app[DATABASE], settings.projections_retention_days)
    app[ENGINE] = engine
    try:
        async with producing(settings.kafka_bootstrap) as (producer, broker):
            app[PRODUCER], app[BROKER] = producer, broker
            projector = Projector(settings, engine, app[DATABASE], app[METRICS])
            await projector.start()
            app[PROJECTOR] = projector
            await app[BULK].start(engine, producer)  # resumes the jobs a stop interrupted
            try:
                yield
            finally:
                await app[BULK].stop(settings.shutdown_timeout_s)
                await projector.stop(settings.shutdown_timeout_s)
    finally:
        await engine.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[problems, caller_scope(settings.secret_key)])
    app[SETTINGS] = settings
    app[DATABASE] = database_name(settings)  # a bad setting fails here, at start
    app[METRICS] = ProjectionMetrics()
    app[BULK] = BulkRunner(settings, app[DATABASE], app[METRICS])

    def readiness() -> dict[str, bool]:
        projector, broker = app.get(PROJECTOR), app.get(BROKER)
        return {
            "engine_migrated": app.get(ENGINE) is not None,
            "projecting": projector is not None and projector.running,
            "broker_reachable": broker is not None and broker.reachable,
        }

    track_in_flight(app)
    app.cleanup_ctx.append(pipeline_ctx)
    app.cleanup_ctx.append(analysts_ctx)  # needs the engine: after the pipeline
    app.add_routes(probe_routes(app[METRICS].registry, readiness))
    app.add_routes(query_routes())
    return app
