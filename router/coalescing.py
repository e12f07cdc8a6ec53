"""Requests waiting for the same transformation go to V8 together, as one batch.

Each request is routed in a task of its own (router.requests) and asks for its transformation
alone; here those of one (team, code, env) queue up, and one drainer per key sends what is
waiting as a batch, then what came meanwhile, until nobody waits. Nothing waits for a batch to
fill: the first request starts the drainer at once, and a batch is whatever queued while the
previous one ran — under load the batches grow, idle each request goes alone. One batch at a
time per key: they would queue for the key's one isolate anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from router.batching import Key, batch_key
from router.transform import Outcome, TransformationFailed

# Requests per batch at most: enough to spread V8's per-call cost thin, few enough that one
# batch's results do not wait long for its last request.
MAX_BATCH = 64

Item = tuple[dict[str, Any], dict[str, Any]]  # (request, context)
# (team id, code, env, items) → each item's outcome, in order.
RunBatch = Callable[[str, str, dict[str, str], list[Item]], Awaitable[list[Outcome]]]
_Waiting = list[tuple[Item, "asyncio.Future[Outcome]"]]


class Batches:
    def __init__(self, run: RunBatch, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self._run = run
        self.max_batch = max_batch
        self._waiting: dict[Key, _Waiting] = {}
        self._drainers: set[asyncio.Task[None]] = set()

    async def transform(
        self,
        team_id: str,
        code: str,
        env: dict[str, str],
        request: dict[str, Any],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        """The request's transformation output (router.routing.Transform), run in a batch."""
        key = batch_key(team_id, code, env)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = []
            drainer = asyncio.create_task(self._drain(key, team_id, code, env, waiting))
            self._drainers.add(drainer)
            drainer.add_done_callback(self._drainers.discard)
        waiting.append(((request, context), future))
        outcome = await future
        if isinstance(outcome, TransformationFailed):
            raise outcome
        return outcome

    async def _drain(
        self,
        key: Key,
        team_id: str,
        code: str,
        env: dict[str, str],
        waiting: _Waiting,
    ) -> None:
        live: _Waiting = []
        try:
            while waiting:
                batch = waiting[: self.max_batch]
                del waiting[: self.max_batch]
                live = [(item, future) for item, future in batch if not future.done()]
                if not live:  # every one of them was cancelled while it waited
                    continue
                outcomes = await self._run(team_id, code, env, [item for item, _ in live])
                for (_, future), outcome in zip(live, outcomes, strict=True):
                    if not future.done():
                        future.set_result(outcome)
        except BaseException as exc:
            # Whoever still waits learns it (a bug, or the worker stopping), never hangs.
            _fail([future for _, future in live + waiting], exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            del self._waiting[key]


def _fail(futures: list[asyncio.Future[Outcome]], exc: BaseException) -> None:
    for future in futures:
        if future.done():
            continue
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)
