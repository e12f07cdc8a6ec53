"""The real ClickHouse engine for the whole run, a database per test, and the projections
service running in this process against both.

One suite for every back end the machine has: the embedded engine (chdb) always, and a
ClickHouse server too when `FASTHOOK_TEST_CLICKHOUSE_DSN` names one (e.g.
`http://default:@127.0.0.1:8123`): each test of this folder then runs once per back end
(`[chdb]`, `[server]`), through the same client code path the services use. chdb allows one
data path per process, so every test shares the session's path and gets its own database. If
an engine cannot start, every test that needs it errors loudly (never skips).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fasthook.embedded import free_port
from projections.app import create_app
from projections.clickhouse import Engine, database_name
from projections.keys import PROJECTOR
from projections.migrations import migrate
from runtime.secrets import PROJECTIONS_TOKEN_HEADER, TEAM_HEADER, projections_token
from runtime.settings import Settings
from tests.support.poll import eventually
from tests.support.teardown import step

TEAM = "tm_projections"
SERVER_DSN = os.environ.get("FASTHOOK_TEST_CLICKHOUSE_DSN", "")
BACKENDS = ["chdb", "server"] if SERVER_DSN else ["chdb"]


@pytest.fixture(scope="session", params=BACKENDS)
async def engine(request: pytest.FixtureRequest, engine: Engine) -> AsyncIterator[Engine]:
    """The back end this run of the suite projects into: the session's chdb engine, or the
    server (opened once; each test's database dropped by the `db` fixture)."""
    if request.param == "chdb":
        yield engine
        return
    server = await Engine.open(SERVER_DSN)  # raises EngineError: a loud failure
    [row] = await server.query("SELECT version() AS version")
    assert row["version"], "the ClickHouse server answered without a version"
    yield server
    await server.close()


def api_headers(settings: Settings, team: str | None = TEAM) -> dict[str, str]:
    """What the API sends projections: the hop credential and the caller's team."""
    headers = {PROJECTIONS_TOKEN_HEADER: projections_token(settings.secret_key)}
    return {**headers, TEAM_HEADER: team} if team else headers


@pytest.fixture
def psettings(settings: Settings, engine: Engine, topics: Any) -> Settings:
    return settings.with_(
        clickhouse_dsn=engine.dsn,
        clickhouse_database=topics.namespace,
        projections_port=free_port(),
        analysts_port=free_port(),
        projector_batch_ms=50,
    )


@pytest.fixture
async def db(engine: Engine, psettings: Settings) -> AsyncIterator[str]:
    name = database_name(psettings)
    await migrate(engine, name, psettings.projections_retention_days)
    yield name
    await engine.command(f"DROP DATABASE IF EXISTS {name}")


@dataclass
class Service:
    app: web.Application
    runner: web.AppRunner
    settings: Settings
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.projections_port}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        team: str | None = TEAM,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[int, Any]:
        headers = api_headers(self.settings, team)
        async with self.http.request(
            method, self.url + path, params=params, json=json, headers=headers
        ) as response:
            if response.content_type.endswith("json"):
                return response.status, await response.json(content_type=None)
            return response.status, await response.read()

    async def get(self, path: str, **params: Any) -> Any:
        status, body = await self.call("GET", path, params=params)
        assert status == 200, (status, body)
        return body

    async def caught_up(self, timeout_s: float = 20.0) -> None:
        """Wait until the projector wrote everything on the topics as of now."""
        await eventually(self.app[PROJECTOR].caught_up, timeout_s, "projector caught up", 0.05)

    async def wait_for(
        self, path: str, count: int, timeout_s: float = 10.0, **params: Any
    ) -> list[dict[str, Any]]:
        """Poll a list route until it shows `count` models (read-after-write)."""

        async def check() -> list[dict[str, Any]]:
            body = await self.get(path, **params)
            return body["models"] if body["count"] >= count else []

        return await eventually(check, timeout_s, f"{count} models at {path} {params}", 0.05)


async def start_service(settings: Settings) -> Service:
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.projections_port).start()
    service = Service(app, runner, settings, aiohttp.ClientSession())
    await asyncio.wait_for(app[PROJECTOR].assigned.wait(), 30)
    return service


async def stop_service(service: Service) -> None:
    await service.http.close()
    await step("the projections service's cleanup", service.runner.cleanup())


@pytest.fixture
async def service(psettings: Settings, db: str) -> AsyncIterator[Service]:
    running = await start_service(psettings)
    yield running
    await stop_service(running)
