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
import bisect
import math
import time
from collections import deque
from typing import Any

from deliverer.parking import Line, Park, RateSchedule

PERIOD_S = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


class Slots:
    """A line's concurrency slots: taken at once while one is free, else in arrival order.

    A freed slot is handed to the first live waiter (its future resolved True) rather than
    counted back and raced for. Bounded waits share one timer per line, armed for the earliest
    deadline: when it fires it resolves every waiter past its bound False and re-arms for the
    next. A timer per waiting event (made, then cancelled when its slot came, for almost all)
    cost a handle and two loop calls each: most of a line's waiters are bounded, and a busy
    line's are hundreds at a time.
    """

    __slots__ = ("_bounds", "_timer", "_timer_at", "_waiters", "free")

    def __init__(self, count: int) -> None:
        self.free = count
        self._waiters: deque[asyncio.Future[bool]] = deque()
        # (deadline, waiter) of the bounded waits, earliest first (a line's bounds are all
        # alike, so that is arrival order); a waiter served meanwhile stays until it comes to
        # the front (or the line empties).
        self._bounds: deque[tuple[float, asyncio.Future[bool]]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def locked(self) -> bool:
        return self.free <= 0

    def take(self) -> bool:
        if self.free > 0:
            self.free -= 1
            return True
        return False

    def wait(self, wait_s: float) -> asyncio.Future[bool]:
        """Join the line (every slot taken): the future resolves True once a slot is handed
        over, False once `wait_s` passed first (inf: never). Whoever awaits it and is
        cancelled must `forfeit` it."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        if wait_s != math.inf:
            deadline = loop.time() + wait_s
            bounds = self._bounds
            if bounds and deadline < bounds[-1][0]:  # a shorter bound than the last one's
                bounds.insert(
                    bisect.bisect_right(bounds, deadline, key=_deadline), (deadline, waiter)
                )
            else:
                bounds.append((deadline, waiter))
            if deadline < self._timer_at:
                self._arm(loop, deadline)
        return waiter

    def forfeit(self, waiter: asyncio.Future[bool]) -> None:
        """Its waiter was cancelled: a slot handed to it meanwhile goes to the next in line."""
        if waiter.done() and not waiter.cancelled() and waiter.result():
            self.release()

    async def take_within(self, wait_s: float) -> bool:
        """Whether a slot was handed over within `wait_s` (inf: however long it takes)."""
        if self.take():
            return True
        waiter = self.wait(wait_s)
        try:
            return await waiter
        except BaseException:
            self.forfeit(waiter)
            raise

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # not expired, not cancelled
                waiter.set_result(True)
                return
        self.free += 1
        if self._bounds:  # nobody waits: the bounds left are of waiters served or gone
            self._bounds.clear()
            self._disarm()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        self._disarm()
        self._timer_at = at
        self._timer = loop.call_at(at, self._expire_due)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = math.inf

    def _expire_due(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        loop = asyncio.get_running_loop()
        # A timer may fire a hair before its time by the loop's clock.
        now = loop.time() + _CLOCK_SLACK_S
        bounds = self._bounds
        while bounds and (bounds[0][0] <= now or bounds[0][1].done()):
            _expire(bounds.popleft()[1])
        if bounds:
            self._arm(loop, bounds[0][0])


_CLOCK_SLACK_S = 0.001


def _deadline(bound: tuple[float, asyncio.Future[bool]]) -> float:
    return bound[0]


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class DestinationLimits:
    def __init__(self, default_concurrency: int, global_slots: int) -> None:
        self.default_concurrency = default_concurrency
        self.max_concurrency = max(1, global_slots // 4)
        self.waiting_budget = max(1, global_slots // 2)
        self.waiting = 0
        self._lines: dict[tuple[str, int, int | None, str | None], tuple[Line, Slots]] = {}

    def _line(self, destination: dict[str, Any]) -> tuple[Line, Slots]:
        config = destination.get("config") or {}
        rate, period = config.get("rate_limit"), config.get("rate_limit_period")
        concurrency = rate if period == "concurrent" and rate else self.default_concurrency
        concurrency = min(concurrency, self.max_concurrency)
        key = (destination["id"], concurrency, rate, period)
        found = self._lines.get(key)
        if found is None:
            schedule = RateSchedule(rate, PERIOD_S[period]) if rate and period in PERIOD_S else None
            found = self._lines[key] = (Line(concurrency, schedule), Slots(concurrency))
        return found

    def _may_wait(self, line: Line) -> bool:
        return line.may_wait(self.waiting, self.waiting_budget, time.monotonic())

    async def _enter(self, line: Line, slots: Slots, event_id: str) -> float | None:
        """None once the event holds its concurrency slot and its send time has come; else
        how many seconds to park it for (holding nothing)."""
        if not slots.take():
            wait_s = line.slot_wait(self.waiting, self.waiting_budget, time.monotonic())
            if wait_s is None:
                now = time.monotonic()
                return line.busy_until(event_id, now) - now
            # Awaited here, not through Slots.take_within: a frame fewer on every resume.
            waiter = slots.wait(wait_s)
            line.waiting += 1
            self.waiting += 1
            try:
                handed = await waiter
            except BaseException:
                slots.forfeit(waiter)
                raise
            finally:
                line.waiting -= 1
                self.waiting -= 1
            if not handed:
                now = time.monotonic()
                return line.busy_until(event_id, now) - now
        if line.rate is None:
            return None  # no send time to wait for (Line.send_time: Go(now))
        try:
            now = time.monotonic()
            decision = line.send_time(event_id, now, self._may_wait(line))
            if isinstance(decision, Park):
                slots.release()
                return decision.until - now
            if decision.at > now:
                line.waiting += 1
                self.waiting += 1
                try:
                    await asyncio.sleep(decision.at - now)
                finally:
                    line.waiting -= 1
                    self.waiting -= 1
        except BaseException:
            slots.release()
            raise
        return None

    def slot(self, destination: dict[str, Any], event_id: str) -> Held:
        """`async with` it: yields None when the event may be sent now (its slot is held
        until the block ends), or how many seconds to park it for."""
        return Held(self, destination, event_id)


class Held:
    """One event's turn at its destination's limits (`DestinationLimits.slot`): a plain
    async context manager, one object per delivery where a generator-based one made three."""

    __slots__ = ("_destination", "_event_id", "_limits", "_line", "_slots", "_started")

    def __init__(self, limits: DestinationLimits, destination: dict[str, Any], event_id: str):
        self._limits = limits
        self._destination = destination
        self._event_id = event_id
        self._line: Line | None = None
        self._slots: Slots | None = None
        self._started = 0.0

    async def __aenter__(self) -> float | None:
        # One lookup: a limit changed meanwhile must not release a slot never taken.
        line, slots = self._limits._line(self._destination)
        # The common case, a free slot and no rate limit, needs no coroutine of its own.
        if line.rate is not None or not slots.take():
            park_s = await self._limits._enter(line, slots, self._event_id)
            if park_s is not None:
                return park_s
        self._line, self._slots = line, slots
        self._started = time.monotonic()
        line.started(self._started)
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        line, slots = self._line, self._slots
        if line is not None and slots is not None:
            self._line = self._slots = None
            slots.release()
            line.finished(self._started, time.monotonic())
