"""Wiring: the analysts' view of the config log, and either the endpoint on its own port
(embedded engine) or the server's users kept in step with the log (ClickHouse server).

It is a cleanup context of the projections app: the process that owns the engine serves it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from projections.analysts.credentials import AnalystView
from projections.analysts.grants import create_user, drop_user
from projections.analysts.handlers import ENDPOINT, Endpoint, clickhouse_errors, ping, query
from projections.analysts.runner import AnalystRunner, limits
from projections.analysts.scope import RELATIONS_SQL
from projections.clickhouse import Engine
from projections.errors import EngineError
from projections.keys import DATABASE, ENGINE, SETTINGS
from projections.layout import Layout
from runtime.kafka import ConfigFollower
from schemas.entities import Analyst

log = logging.getLogger(__name__)


def create_endpoint(endpoint: Endpoint) -> web.Application:
    app = web.Application(middlewares=[clickhouse_errors])
    app[ENDPOINT] = endpoint
    app.add_routes([web.get("/ping", ping), web.get("/", query), web.post("/", query)])
    return app


class ServerGrants:
    """Production: each analyst on the log becomes (or stops being) a ClickHouse user."""

    def __init__(
        self, engine: Engine, database: str, bounds: dict[str, int], on_cluster: str = ""
    ) -> None:
        self.engine, self.database, self.bounds = engine, database, bounds
        self.on_cluster = on_cluster
        self._tasks: set[asyncio.Task[None]] = set()

    def changed(self, analyst: Analyst, active: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._apply(analyst, active))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, analyst: Analyst, active: bool) -> None:
        try:
            rows = await self.engine.query(RELATIONS_SQL, {"db": self.database})
            tables = [r["name"] for r in rows if r["engine"] != "View"]
            statements = (
                create_user(analyst, self.database, self.bounds, tables, self.on_cluster)
                if active
                else drop_user(analyst, self.database, tables, self.on_cluster)
            )
            for statement in statements:
                await self.engine.command(statement)
        except (EngineError, ValueError):
            log.exception(
                "analyst user not applied on the ClickHouse server",
                extra={"analyst": analyst.get("name")},
            )


async def analysts_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, engine, database = app[SETTINGS], app[ENGINE], app[DATABASE]
    on_cluster = Layout(settings.clickhouse_cluster).on_cluster
    grants = (
        None if engine.embedded else ServerGrants(engine, database, limits(settings), on_cluster)
    )
    view = AnalystView(grants.changed if grants else None)
    follower = ConfigFollower(settings.kafka_bootstrap, settings.topics.config, view.apply)
    await follower.start()
    runner: web.AppRunner | None = None
    analysts: AnalystRunner | None = None
    try:
        if engine.embedded:
            analysts = AnalystRunner(engine.dsn, database, settings)
            await analysts.start()
            runner = web.AppRunner(create_endpoint(Endpoint(view, analysts)), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, settings.analysts_host, settings.analysts_port).start()
            log.info(
                "analysts endpoint listening",
                extra={"host": settings.analysts_host, "port": settings.analysts_port},
            )
        yield
    finally:
        if runner is not None:
            await runner.cleanup()
        if analysts is not None:
            analysts.close()
        await follower.stop()
