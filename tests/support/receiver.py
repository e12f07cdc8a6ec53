"""A real HTTP receiver on 127.0.0.1 that records what it gets and answers as told."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fasthook.embedded import free_port
from tests.support.http import send_raw
from tests.support.poll import eventually


@dataclass
class Received:
    method: str
    path_qs: str
    headers: list[tuple[str, str]]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


# Given the 1-based count of calls so far and the call, an answer: (status, headers) or None to
# never answer (the deliverer's timeout is what is tested).
Answer = Callable[[int, Received], tuple[int, dict[str, str]] | None]


@dataclass
class Receiver:
    answer: Answer = lambda n, r: (204, {})
    received: list[Received] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        got = Received(
            request.method,
            request.raw_path,
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
            await request.read(),
            time.monotonic(),
        )
        self.received.append(got)
        self._arrived.set()
        answer = self.answer(len(self.received), got)
        if answer is None:
            await asyncio.sleep(3600)
            return web.Response(status=504)
        status, headers = answer
        return web.Response(status=status, headers=headers)

    async def start(self) -> Receiver:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"receiver got {len(self.received)} of {count} calls")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass
        return self.received

    def event_ids(self) -> list[str]:
        return [r.header("x-fasthook-event-id") or "" for r in self.received]


def answers(*statuses: int, then: int = 204, headers: dict[str, Any] | None = None) -> Answer:
    """Answer the given statuses in turn, then `then` for ever."""

    def answer(n: int, _: Received) -> tuple[int, dict[str, str]]:
        status = statuses[n - 1] if n <= len(statuses) else then
        return status, dict(headers or {}) if n <= len(statuses) else {}

    return answer


async def sent_until_received(
    receiver: Receiver,
    url: str,
    headers: list[tuple[str, str | bytes]],
    body: bytes,
    timeout_s: float = 20.0,
) -> Received:
    """Send one real request after another to a source until `receiver` got one: a source
    and connection created a moment ago reach every service's view within moments."""

    async def delivered() -> bool:
        answer = await send_raw(url, "POST", headers, body)
        assert answer.status in (200, 404)  # 404: the ingress does not know the source yet
        try:
            await receiver.wait_for(1, timeout_s=0.5)
        except AssertionError:
            return False
        return True

    await eventually(delivered, timeout_s, "a request delivered")
    return receiver.received[0]
