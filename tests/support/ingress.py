"""Running the real ingress app on a free loopback port, and declaring sources to it.

The app is served by the server `settings.ingress_server` names (aiohttp's or the lean one);
tests/ingress/conftest.py takes it from FASTHOOK_INGRESS_SERVER, so the whole directory runs
under either."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiokafka import AIOKafkaProducer

from fasthook.embedded import free_port
from ingress.app import create_app
from ingress.keys import KAFKA, SOURCES
from ingress.server import LeanServer, listen_lean
from runtime.settings import Settings
from tests.support.config import declare


class _Runner(web.AppRunner):
    """The app's runner, closing the lean server's connections first when there is one: tests
    elsewhere stop the ingress with `runner.cleanup()`."""

    lean: LeanServer | None = None

    async def cleanup(self) -> None:
        if self.lean is not None:
            await self.lean.close()
        await super().cleanup()


@dataclass
class RunningIngress:
    app: web.Application
    runner: web.AppRunner
    settings: Settings

    async def close(self) -> None:
        await self.runner.cleanup()

    @property
    def base_url(self) -> str:
        return self.settings.public_base_url

    def source_url(self, source: dict[str, Any]) -> str:
        return f"{self.base_url}/{source['token']}"

    async def wait_for_source(
        self, source: dict[str, Any], timeout_s: float = 5.0, **expect: Any
    ) -> None:
        """Poll the in-memory view until the source (with the expected fields) is served."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            served = self.app[SOURCES].by_token(source["token"])
            if served is not None and all(getattr(served, k) == v for k, v in expect.items()):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"source {source['id']} not served within {timeout_s}s")


async def start_ingress(settings: Settings) -> RunningIngress:
    port = free_port()
    settings = settings.with_(ingress_port=port, ingress_metrics_port=free_port())
    app = create_app(settings)
    runner = _Runner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    if settings.ingress_server == "lean":
        runner.lean = await listen_lean(
            app, "127.0.0.1", port, False, settings.ingress_listen_backlog
        )
    else:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    await app[KAFKA].follower.wait_caught_up(10)
    return RunningIngress(app, runner, settings)


async def declare_source(
    producer: AIOKafkaProducer, settings: Settings, team_id: str = "tm_test", **fields: Any
) -> dict[str, Any]:
    return await declare(producer, settings, "source", {"name": "twilio", **fields}, team_id)
