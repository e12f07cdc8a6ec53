"""Waiting for a condition by polling it, bounded in time (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]],
    timeout_s: float = 10.0,
    what: str = "the condition",
    interval_s: float = 0.02,
) -> T:
    """The first truthy result of `check`; AssertionError when none came in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s}s")
        await asyncio.sleep(interval_s)
