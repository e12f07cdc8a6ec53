"""Per-destination limits: how many deliveries at once, and how many per second/minute/hour.

Waiting for them never holds what other destinations need for long (see `deliverer.parking`):
a destination gets at most a quarter of the deliverer's global slots for its deliveries, and
its events wait in memory without a time bound only within half the global slots, shared by
all destinations; past that, only a line that turns over within a second waits, and then for
two seconds at most; the caller parks the rest. So a slow or stuck destination leaves the
others a quarter of the slots, and a fast one's burst waits its turn instead of touring the
retry tiers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from deliverer.parking import Line, Park, RateSchedule

PERIOD_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


class DestinationLimits:
    def __init__(self, default_concurrency: int, global_slots: int) -> None:
        self.default_concurrency = default_concurrency
        self.max_concurrency = max(1, global_slots // 4)
        self.waiting_budget = max(1, global_slots // 2)
        self.waiting = 0
        self._lines: dict[
            tuple[str, int, int | None, str | None], tuple[Line, asyncio.Semaphore]
        ] = {}

    def _line(self, destination: dict[str, Any]) -> tuple[Line, asyncio.Semaphore]:
        config = destination.get("config") or {}
        rate, period = config.get("rate_limit"), config.get("rate_limit_period")
        concurrency = rate if period == "concurrent" and rate else self.default_concurrency
        concurrency = min(concurrency, self.max_concurrency)
        key = (destination["id"], concurrency, rate, period)
        if key not in self._lines:
            schedule = RateSchedule(rate, PERIOD_S[period]) if rate and period in PERIOD_S else None
            self._lines[key] = (Line(concurrency, schedule), asyncio.Semaphore(concurrency))
        return self._lines[key]

    def _may_wait(self, line: Line) -> bool:
        return line.may_wait(self.waiting, self.waiting_budget, time.monotonic())

    @asynccontextmanager
    async def _waiting(self, line: Line) -> AsyncIterator[None]:
        line.waiting += 1
        self.waiting += 1
        try:
            yield
        finally:
            line.waiting -= 1
            self.waiting -= 1

    async def _acquire_within(
        self, line: Line, semaphore: asyncio.Semaphore, wait_s: float
    ) -> bool:
        """Whether a slot was taken within `wait_s` (inf: however long it takes)."""
        async with self._waiting(line):
            try:
                async with asyncio.timeout(None if math.isinf(wait_s) else wait_s):
                    await semaphore.acquire()
            except TimeoutError:
                return False
        return True

    async def _enter(self, line: Line, semaphore: asyncio.Semaphore, event_id: str) -> float | None:
        """None once the event holds its concurrency slot and its send time has come; else
        how many seconds to park it for (holding nothing)."""
        if semaphore.locked():
            wait_s = line.slot_wait(self.waiting, self.waiting_budget, time.monotonic())
            if wait_s is None or not await self._acquire_within(line, semaphore, wait_s):
                now = time.monotonic()
                return line.busy_until(event_id, now) - now
        else:
            await semaphore.acquire()  # free: at once
        try:
            now = time.monotonic()
            decision = line.send_time(event_id, now, self._may_wait(line))
            if isinstance(decision, Park):
                semaphore.release()
                return decision.until - now
            if decision.at > now:
                async with self._waiting(line):
                    await asyncio.sleep(decision.at - now)
        except BaseException:
            semaphore.release()
            raise
        return None

    @asynccontextmanager
    async def slot(self, destination: dict[str, Any], event_id: str) -> AsyncIterator[float | None]:
        """Yields None when the event may be sent now (its slot is held until the block ends),
        or how many seconds to park it for."""
        # One lookup: a limit changed meanwhile must not release a slot never taken.
        line, semaphore = self._line(destination)
        park_s = await self._enter(line, semaphore, event_id)
        if park_s is not None:
            yield park_s
            return
        started = time.monotonic()
        line.started(started)
        try:
            yield None
        finally:
            semaphore.release()
            line.finished(started, time.monotonic())
