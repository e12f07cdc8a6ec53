"""Putting a real consumer's fetcher to a long rest, as after a silence of hours."""

from __future__ import annotations

import asyncio
import time

from runtime.resting import RestingFetcher


async def rest_long(
    fetcher: RestingFetcher, seconds: float = 30.0, timeout_s: float = 30.0
) -> None:
    """Return once the fetcher is in an idle hold with more than half of `seconds` to go: a
    record produced now is read within `seconds / 2` only if something wakes the fetcher."""
    fetcher.hold_max_s = seconds
    fetcher._fetch_max_wait_ms = int(seconds * 2000)  # else the broker's own wait caps the hold
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(end - loop.time() > seconds / 2 for end in fetcher.holding.values()):
            return
        for node in list(fetcher._quiet_since) or [0]:
            fetcher._quiet_since[node] = loop.time() - 3600
        await asyncio.sleep(0.02)
    raise AssertionError("the idle fetcher never rested long")
