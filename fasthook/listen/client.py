"""The session's socket: dial out to the API (nothing dials in: works behind NAT), answer each
relayed request, and come back after a drop.

Reconnecting: exponential backoff with jitter (0.5 s doubling to 10 s), for as long as it
takes. Events that failed while the session was away (CLI_DISCONNECTED) are asked again once
back (`catch_up`): a bulk retry of this destination's events that failed so since just before
the drop, run at once and again 5 s and 30 s later, because the failures of the last moments
before the reconnect reach the query side a little later (an event retried by an earlier pass
is SUCCESSFUL or in flight by then, so it is not asked twice). Events still on their retry
schedule come on their own.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from fasthook.listen.api import Api
from fasthook.listen.errors import ListenError, NotFoundError
from fasthook.listen.forward import Forwarded, Forwarder, answer_frame, answer_head
from schemas.relay import (
    BINARY_PROTOCOL,
    CLI_DISCONNECTED,
    REPLACED_CLOSE_CODE,
    pack_frame,
    unpack_frame,
)
from schemas.times import now_iso

BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
# Failures recorded this long before the drop was noticed are missed events too (the socket
# may have been dead a heartbeat before anyone knew).
CATCH_UP_MARGIN_S = 30.0
# Seconds after the reconnect (each relative to the previous pass).
CATCH_UP_PASSES_S = (0.0, 5.0, 25.0)
HEARTBEAT_S = 15.0


def backoff_s(failures: int, jitter: float) -> float:
    """Seconds before reconnect try `failures` (1 = the first): doubling, capped, jittered by
    `jitter` in [0, 1) so a fleet of sessions does not return in step."""
    # The exponent is capped: a float times a huge int overflows after ~1,000 failures.
    base = min(BACKOFF_MAX_S, BACKOFF_START_S * (1 << min(max(0, failures - 1), 32)))
    return base * (0.75 + 0.5 * jitter)


def catch_up_query(destination_id: str, since_s: float) -> dict[str, Any]:
    return {
        "destination_id": destination_id,
        "status": "FAILED",
        "error_code": CLI_DISCONNECTED,
        "created_at[gte]": now_iso(since_s),
    }


@dataclass
class Hooks:
    """What the session tells its renderer."""

    forwarded: Callable[[Forwarded], None]
    state: Callable[[str], None]


class SessionClient:
    def __init__(
        self, api: Api, destination: dict[str, Any], forwarder: Forwarder, hooks: Hooks
    ) -> None:
        self.api = api
        self.destination = destination
        self.forwarder = forwarder
        self.hooks = hooks
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Until cancelled, or a fatal refusal (ListenError)."""
        failures, dropped_at = 0, None
        while True:
            try:
                await self._connected(dropped_at)
                failures = 0
            except (
                aiohttp.ClientConnectionError,
                aiohttp.WSServerHandshakeError,
                OSError,
                TimeoutError,
            ) as exc:
                self._refused(exc)
                if failures == 0:
                    self.hooks.state(
                        f"cannot reach the API at {self.api.target.url} "
                        f"({type(exc).__name__}); retrying"
                    )
            else:
                self.hooks.state("disconnected from the API; reconnecting")
            dropped_at = dropped_at or time.time()
            failures += 1
            await asyncio.sleep(backoff_s(failures, random.random()))

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status in (401, 403, 404, 409):
            kind = NotFoundError if exc.status == 404 else ListenError
            raise kind(f"the API refused the session ({exc.status} {exc.message})") from None

    async def _connected(self, dropped_at: float | None) -> None:
        async with self.api.http.ws_connect(
            self.api.target.ws_url(self.destination["id"]),
            headers=self.api.target.headers,
            heartbeat=HEARTBEAT_S,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_close=5),
            protocols=(BINARY_PROTOCOL,),  # an API without it keeps sending JSON text frames
        ) as ws:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY:
                    frame = unpack_frame(message.data)
                elif message.type == aiohttp.WSMsgType.TEXT:
                    frame = json.loads(message.data)
                else:
                    continue
                if frame.get("type") == "request":
                    self._spawn(self._answer(ws, frame))
                elif frame.get("type") == "ready":
                    self.hooks.state("reconnected" if dropped_at else "connected")
                    if dropped_at is not None:
                        self._spawn(self.catch_up(dropped_at))
                        dropped_at = None
            if ws.close_code == REPLACED_CLOSE_CODE:
                raise ListenError(
                    "another `fasthook listen` session took over destination "
                    f"{self.destination['name']!r}; this one stops"
                )

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> None:
        outcome, record = await self.forwarder.forward(frame)
        try:
            if isinstance(frame.get("body"), bytes):  # answered in the form it was asked
                await ws.send_bytes(pack_frame(answer_head(frame.get("id"), outcome), outcome.body))
            else:
                await ws.send_str(json.dumps(answer_frame(frame.get("id"), outcome)))
        except (ConnectionError, RuntimeError):
            pass  # the socket went: the attempt fails as CLI_DISCONNECTED and is retried
        self.hooks.forwarded(record)

    async def catch_up(self, dropped_at: float) -> None:
        query = catch_up_query(self.destination["id"], dropped_at - CATCH_UP_MARGIN_S)
        for delay in CATCH_UP_PASSES_S:
            await asyncio.sleep(delay)
            try:
                job = await self.api.call("POST", "/v1/bulk/events/retry", {"query": query})
            except ListenError as exc:
                self.hooks.state(f"could not ask for the missed events again: {exc}")
                return
            if job.get("estimated_count"):
                self.hooks.state(
                    f"retrying {job['estimated_count']} event(s) missed while disconnected"
                )
