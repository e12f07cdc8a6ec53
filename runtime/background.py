"""The shell of a service's long-running consumer loop: start it as a named task, tell whether
it still runs (readiness), stop it gracefully — the loop sees `stopping`, finishes the batch in
hand within a bound, and is cancelled past it. A loop that dies of an error is logged at once
rather than when someone awaits it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from runtime.serve import fail

log = logging.getLogger(__name__)


class BackgroundTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False  # the loop's condition: finish what is in hand, then return
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, body: Coroutine[Any, Any, None]) -> None:
        self.stopping = False
        self._task = asyncio.create_task(body, name=self.name)
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s stopped", self.name, exc_info=task.exception())
            fail(self.name)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the loop to return, wait up to `timeout_s`, then cancel it."""
        self.stopping = True
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=timeout_s)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
