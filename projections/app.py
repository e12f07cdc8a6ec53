"""The projections app: ClickHouse engine (migrated), projector, producer for retries,
query routes, bulk jobs and probes. By default all in one process — the embedded engine
allows one owner per path; against a ClickHouse server `projections_role` splits them into
projector workers (one consumer group sharing the topics' partitions) and stateless query
replicas (docs/operations.md, "Scaling projections")."""

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
from projections.layout import Layout
from projections.metrics import ProjectionMetrics
from projections.middlewares import caller_scope, problems
from projections.migrations import migrate
from projections.projector import Projector
from projections.routes import query_routes
from runtime.errors import SettingsError
from runtime.kafka import producing
from runtime.probes import probe_routes
from runtime.serve import track_in_flight
from runtime.settings import Settings, variable

ROLES = {"all": (True, True), "projector": (True, False), "query": (False, True)}


def role(settings: Settings) -> tuple[bool, bool]:
    """(projects the topics, serves queries and bulk jobs) for this process's role."""
    try:
        return ROLES[settings.projections_role]
    except KeyError:
        raise SettingsError(
            f"{variable('projections_role')}={settings.projections_role!r}: "
            f"expected one of {', '.join(ROLES)}"
        ) from None


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = await Engine.open(
        resolve_dsn(settings), Layout(settings.clickhouse_cluster).client_settings()
    )
    await migrate(
        engine, app[DATABASE], settings.projections_retention_days, settings.clickhouse_cluster
    )
    app[ENGINE] = engine
    try:
        async with producing(settings.kafka_bootstrap) as (producer, broker):
            app[PRODUCER], app[BROKER] = producer, broker
            projects, serves = role(settings)
            projector = Projector(settings, engine, app[DATABASE], app[METRICS])
            if projects:
                await projector.start()
                broker.hear(projector.consumer._client)  # its fetches prove the broker there
                app[PROJECTOR] = projector
            if serves:
                await app[BULK].start(engine, producer)  # resumes the jobs nobody holds
            try:
                yield
            finally:
                if serves:
                    await app[BULK].stop(settings.shutdown_timeout_s)
                if projects:
                    await projector.stop(settings.shutdown_timeout_s)
    finally:
        await engine.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[problems, caller_scope(settings.secret_key)])
    app[SETTINGS] = settings
    app[DATABASE] = database_name(settings)  # a bad setting fails here, at start
    projects, serves = role(settings)
    app[METRICS] = ProjectionMetrics()
    app[BULK] = BulkRunner(settings, app[DATABASE], app[METRICS])

    def readiness() -> dict[str, bool]:
        projector, broker = app.get(PROJECTOR), app.get(BROKER)
        checks = {
            "engine_migrated": app.get(ENGINE) is not None,
            "broker_reachable": broker is not None and broker.reachable,
        }
        if projects:
            checks["projecting"] = projector is not None and projector.running
        return checks

    track_in_flight(app)
    app.cleanup_ctx.append(pipeline_ctx)
    app.add_routes(probe_routes(app[METRICS].registry, readiness))
    if serves:
        app.cleanup_ctx.append(analysts_ctx)  # needs the engine: after the pipeline
        app.add_routes(query_routes())
    return app
