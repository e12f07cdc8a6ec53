"""A deadline for one step of a request: asyncio.timeout's meaning at half its cost.

`asyncio.timeout` is an async context manager built of Python-level state checks; on the
ingress's hot path (every accepted request waits for the broker's ack under a deadline) it cost
~5 µs a use against ~2 µs for this: one timer handle, cancelled on the way out.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Deadline:
    """`with Deadline(loop, delay_s):` — the body is cancelled after `delay_s` and the
    cancellation surfaces as TimeoutError, as with `asyncio.timeout`. A cancellation from
    elsewhere (shutdown, the caller) stays a CancelledError, even when the deadline also
    passed, because the task's own cancel count says whose cancel it was. Must be entered
    inside a task; a synchronous context manager, so it costs no coroutine frames.
    """

    __slots__ = ("_cancelling", "_delay_s", "_expired", "_handle", "_loop", "_task")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay_s: float) -> None:
        self._loop = loop
        self._delay_s = delay_s
        self._expired = False

    def __enter__(self) -> Deadline:
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("Deadline must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._handle = self._loop.call_later(self._delay_s, self._expire)
        return self

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    @property
    def expired(self) -> bool:
        return self._expired

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._handle.cancel()
        if not self._expired:
            return
        # Our cancel is taken back either way; only a cancel of ours alone becomes a timeout.
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc
