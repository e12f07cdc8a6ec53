"""Running the real control-plane API on a free loopback port, with a team and a key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from api.admin import Admin, admin_session
from api.app import create_app
from api.app_keys import KAFKA
from fasthook.embedded import free_port
from runtime.settings import Settings


@dataclass
class RunningApi:
    app: web.Application
    runner: web.AppRunner
    settings: Settings
    team: dict[str, Any]
    key: str
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.settings.api_base_url

    def headers(self, key: str | None = None, team_id: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        if team_id:
            headers["x-team-id"] = team_id
        return headers

    async def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        key: str | None = None,
        team_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        async with self.http.request(
            method,
            self.url + path,
            json=json,
            headers=headers if headers is not None else self.headers(key, team_id),
        ) as response:
            body = await response.json(content_type=None)
            return response.status, body


async def start_api(settings: Settings) -> RunningApi:
    settings = settings.with_(api_port=free_port())
    async with admin_session(settings) as admin:
        team, key = await make_team(admin, "acme")
    app = create_app(settings)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.api_port).start()
    await app[KAFKA].follower.wait_caught_up(10)
    return RunningApi(app, runner, settings, team, key, aiohttp.ClientSession())


async def make_team(admin: Admin, name: str) -> tuple[dict[str, Any], str]:
    team = await admin.create_team(name)
    key, _ = await admin.create_key(f"{name} admin", [team["id"]])
    return team, key


async def stop_api(api: RunningApi) -> None:
    await api.http.close()
    await api.runner.cleanup()
