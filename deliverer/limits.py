"""Per-destination limits: how many deliveries at once, and how many per second/minute/hour."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

PERIOD_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


class TokenBucket:
    """`rate` tokens per `period_s`, refilled continuously, with no burst: deliveries are
    spaced evenly, so no window of `period_s` ever sees more than `rate` (+1 at its edge)."""

    def __init__(self, rate: int, period_s: float) -> None:
        self.rate = rate
        self.period_s = period_s
        self.capacity = 1.0
        self.tokens = 1.0
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        refill = (now - self.updated) * self.rate / self.period_s
        self.tokens = min(self.capacity, self.tokens + refill)
        self.updated = now

    async def take(self) -> None:
        async with self._lock:  # first come, first served
            self._refill()
            while self.tokens < 1:
                await asyncio.sleep((1 - self.tokens) * self.period_s / self.rate)
                self._refill()
            self.tokens -= 1


class DestinationLimits:
    def __init__(self, default_concurrency: int) -> None:
        self.default_concurrency = default_concurrency
        self._slots: dict[tuple[str, int], asyncio.Semaphore] = {}
        self._buckets: dict[tuple[str, int, str], TokenBucket] = {}

    @asynccontextmanager
    async def slot(self, destination: dict[str, Any]) -> AsyncIterator[None]:
        config = destination.get("config") or {}
        rate, period = config.get("rate_limit"), config.get("rate_limit_period")
        concurrency = rate if period == "concurrent" and rate else self.default_concurrency
        key = (destination["id"], concurrency)
        semaphore = self._slots.setdefault(key, asyncio.Semaphore(concurrency))
        async with semaphore:
            if rate and period in PERIOD_S:
                bucket_key = (destination["id"], rate, period)
                bucket = self._buckets.setdefault(bucket_key, TokenBucket(rate, PERIOD_S[period]))
                await bucket.take()
            yield
