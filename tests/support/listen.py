"""A whole stack for `fasthook listen` tests: the API as an OS process (so a test can kill and
restart it), the rest as in `running_stack`, a real local server, and the CLI as a subprocess
configured from the environment as a developer's shell would be."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from api.admin import admin_session
from fasthook.embedded import free_port
from projections.clickhouse import Engine, database_name
from projections.migrations import migrate
from runtime.secrets import PROJECTIONS_TOKEN_HEADER, TEAM_HEADER, projections_token
from runtime.settings import Settings
from tests.projections.conftest import start_service, stop_service
from tests.support.api import make_team
from tests.support.deliverer import start_deliverer
from tests.support.http import send_raw
from tests.support.ingress import RunningIngress, start_ingress
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess
from tests.support.receiver import Receiver
from tests.support.stack import drop_database
from tests.support.teardown import run_all


@dataclass
class Cli:
    """A running `fasthook listen`, its stdout and stderr in files."""

    process: subprocess.Popen[bytes]
    out_path: Path
    err_path: Path

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout().splitlines() if line.strip()]

    async def wait_stderr(self, text: str, timeout_s: float = 60, after: int = 0) -> None:
        async def seen() -> bool:
            assert self.process.poll() is None or text in self.stderr()[after:], (
                f"fasthook listen exited ({self.process.returncode}): {self.stderr()}"
            )
            return text in self.stderr()[after:]

        await eventually(seen, timeout_s, f"{text!r} on the CLI's stderr", 0.1)

    async def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return await asyncio.to_thread(self.process.wait, 30)


@dataclass
class ListenStack:
    settings: Settings
    ingress: RunningIngress
    api: ServiceProcess
    key: str
    team: dict[str, Any]
    local: Receiver
    tmp_path: Path
    http: aiohttp.ClientSession = field(default_factory=aiohttp.ClientSession)

    @property
    def api_url(self) -> str:
        return self.settings.api_base_url

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FASTHOOK_")}
        return {**env, "FASTHOOK_API_URL": self.api_url, "FASTHOOK_API_KEY": self.key}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, self.api_url + path, json=body, headers={"Authorization": f"Bearer {self.key}"}
        ) as answer:
            return answer.status, await answer.json(content_type=None)

    async def query(self, path: str) -> Any:
        """A query straight to projections (as the API forwards it): works while the API is
        down."""
        headers = {
            PROJECTIONS_TOKEN_HEADER: projections_token(self.settings.secret_key),
            TEAM_HEADER: self.team["id"],
        }
        url = f"http://127.0.0.1:{self.settings.projections_port}{path}"
        async with self.http.get(url, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
            return await answer.json()

    def start_cli(self, *args: str, name: str = "cli") -> Cli:
        out, err = self.tmp_path / f"{name}.out", self.tmp_path / f"{name}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "fasthook", "listen", *args],
                env=self.cli_env(),
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
            )
        return Cli(process, out, err)

    async def start_api(self) -> None:
        self.api.start()
        await self.api.wait_ready(f"{self.api_url}/readyz", 60)

    async def post(self, url: str, headers: list[tuple[str, str | bytes]], body: bytes) -> str:
        """One provider request; its request id."""
        answer = await send_raw(url, "POST", headers, body)
        assert answer.status == 200, answer
        request_id = answer.header("x-fasthook-request-id")
        assert request_id
        return request_id

    async def attempts(
        self, event_id: str, count: int, timeout_s: float = 60
    ) -> list[dict[str, Any]]:
        async def found() -> list[dict[str, Any]]:
            status, page = await self.call("GET", f"/v1/attempts?event_id={event_id}")
            models = page.get("models", []) if status == 200 else []
            return sorted(models, key=lambda a: a["created_at"]) if len(models) >= count else []

        return await eventually(found, timeout_s, f"{count} attempts of {event_id}", 0.3)


@asynccontextmanager
async def listen_stack(
    settings: Settings, engine: Engine, tmp_path: Path, local: Receiver
) -> AsyncIterator[ListenStack]:
    """`settings` as `stack_settings` makes them."""
    await migrate(engine, database_name(settings), settings.projections_retention_days)
    ingress = await start_ingress(settings)
    settings = settings.with_(public_url=ingress.base_url, api_port=free_port())
    projections = await start_service(settings)
    async with admin_session(settings) as admin:
        team, key = await make_team(admin, "acme")
    api = ServiceProcess("api", settings, tmp_path / "api.log")
    router = ServiceProcess("router", settings, tmp_path / "router.log")
    router.start()
    deliverer = await start_deliverer(settings)
    stack = ListenStack(settings, ingress, api, key, team, local, tmp_path)
    try:
        await stack.start_api()
        await router.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)
        yield stack
    finally:
        await run_all(
            [
                ("http", stack.http.close),
                ("local server", local.stop),
                ("deliverer", deliverer.runner.cleanup),
                ("router", router.kill),
                ("api", api.kill),
                ("projections", lambda: stop_service(projections)),
                ("ingress", ingress.runner.cleanup),
                (
                    "database",
                    lambda: drop_database(engine, settings),
                ),
            ]
        )


async def until_delivered(
    stack: ListenStack,
    url: str,
    headers: list[tuple[str, str | bytes]],
    body: bytes,
    timeout_s: float = 60,
) -> str:
    """Post one provider request after another until the local server got one (a connection
    created a moment ago reaches the router within moments); the request id that arrived."""
    sent: list[str] = []

    async def arrived() -> str | None:
        sent.append(await stack.post(url, headers, body))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            for got in stack.local.received:
                if got.header("x-fasthook-request-id") in sent:
                    return got.header("x-fasthook-request-id")
            await asyncio.sleep(0.05)
        return None

    return await eventually(arrived, timeout_s, "a request forwarded to the local server")
