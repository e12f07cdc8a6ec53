"""Waiting for a destination without holding what other destinations need.

Every event the deliverer reads holds one of the events consumer's global slots until it is
finished. An event whose destination has no room (its concurrency full, or its rate limit's
next send time far off) must therefore not wait in that slot: a few wait in memory (bounded
per destination and in total), the rest are *parked*: re-published to a retry tier with a later
`due_at`, so their offset commits and the slot is free for other destinations' events.

Rate limits reserve: a parked event is given the send time the limit would give it (GCRA, the
same even spacing as before), within a horizon, so a backlog drains at the limit's pace with
each event parked once. It comes back `RETURN_LEAD_S` before its time and waits the rest in
memory, so it is sent on time despite the trip through the topics (one back later than its
time has lost it and asks again: every send is on the schedule). Events past the horizon get
no reservation: they come back after it, spread out, and ask again.

Busy destinations (concurrency full, e.g. one that never answers) cannot say when a slot frees:
parked events come back spaced by the observed time a delivery holds a slot, divided by the
concurrency — the pace at which the destination frees slots.

No I/O here: each decision depends only on the line's state and the clock (monotonic seconds).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

from deliverer.retry import tier_for
from schemas.topics import RETRY_TIERS_MS

# Past its concurrency, a destination's events wait in memory only while the expected wait
# (the line ahead times how long a delivery holds a slot, over the concurrency) is this short.
SHORT_WAIT_S = 1.0
# An event let wait on that estimate waits at most this long for its slot, then is parked: a
# destination that slows down or stops answering meanwhile gives those slots back soon.
SHORT_WAIT_LIMIT_S = 2 * SHORT_WAIT_S
# A send time this close is waited for in memory (within the bounds below) rather than parked.
MEMORY_WAIT_S = 5.0
# How far ahead, and how many, send times a rate-limited destination reserves for parked events.
RESERVE_HORIZON_S = 3600.0
MAX_RESERVED = 1000
# A parked event with a reservation comes back this early and waits for its time in memory.
RETURN_LEAD_S = 1.0
# A busy destination's parked events come back no sooner than this (a trip through a tier
# takes about as long anyway), and no later than that.
BUSY_PARK_MIN_S = 0.1
BUSY_PARK_MAX_S = RETRY_TIERS_MS[3] / 1000
# How long a delivery holds a slot, until deliveries have been seen (then a moving average).
# A guess on the fast side: a backlog read at start waits for a new line's first answers
# instead of being parked (1 s parked 800 of the first 1,000 events of a fast receiver's
# backlog, back one by one over 8 s). Guessing wrong costs little: the waits it allows past the
# line's concurrency end within SHORT_WAIT_LIMIT_S, and a full line with nothing finishing
# counts as slow from the first second on (`hold_estimate`).
HOLD_START_S = 0.1
HOLD_WEIGHT = 0.2


def spread(event_id: str) -> float:
    """A stable fraction in [0, 1) per event, so events parked together come back spread out."""
    return zlib.crc32(event_id.encode()) / 2**32


class RateSchedule:
    """`rate` sends per `period_s`, evenly spaced, no burst (GCRA): each send takes the next
    free time and moves it one interval on, so no window of `period_s` sees more than `rate`
    (+1 at its edge)."""

    def __init__(self, rate: int, period_s: float) -> None:
        self.interval = period_s / rate
        self.next_free_at = -math.inf

    def next_free(self, now: float) -> float:
        return max(now, self.next_free_at)

    def take(self, now: float) -> float:
        at = self.next_free(now)
        self.next_free_at = at + self.interval
        return at


@dataclass(frozen=True, slots=True)
class Go:
    at: float  # when the send may start: now, or a little later (its rate limit's time)


@dataclass(frozen=True, slots=True)
class Park:
    until: float  # when to come back and ask again


@dataclass
class Line:
    """One destination's limits and what waits for them."""

    concurrency: int
    rate: RateSchedule | None = None
    waiting: int = 0  # events waiting in memory (for a slot or for their send time)
    reserved: dict[str, float] = field(default_factory=dict)  # parked event id -> send time
    busy_next: float = -math.inf
    hold_s: float = HOLD_START_S
    sending: int = 0
    progress_at: float = -math.inf  # when a delivery last finished (or started on an idle line)

    def hold_estimate(self, now: float) -> float:
        """How long a delivery holds a slot: the average so far, or longer while every slot is
        taken and none has freed (a destination that just stopped answering)."""
        if self.sending >= self.concurrency:
            return max(self.hold_s, now - self.progress_at)
        return self.hold_s

    def _wait_is_short(self, now: float) -> bool:
        return (self.waiting + 1) * self.hold_estimate(now) / self.concurrency <= SHORT_WAIT_S

    def may_wait(self, total_waiting: int, total_budget: int, now: float) -> bool:
        """Room to wait in memory, within the budget all destinations share: up to its
        concurrency, and beyond that while the wait would be short (a fast destination's
        burst is cheaper waited for than parked)."""
        if total_waiting >= total_budget:
            return False
        return self.waiting < self.concurrency or self._wait_is_short(now)

    def slot_wait(self, total_waiting: int, total_budget: int, now: float) -> float | None:
        """How long an event that found every slot taken may wait in memory for one, in
        seconds, or None: park it.

        Up to its concurrency within the shared budget: until a slot frees (inf), as long as
        that takes. Beyond that, while the line turns over fast enough that the wait is short,
        past the shared budget too: for at most SHORT_WAIT_LIMIT_S, so a slot held this way
        comes back within that time whatever the destination does. Parking a fast
        destination's burst instead (the budget spent by its own line) costs three topic
        trips per event and returns it later than waiting would have: a backlog for one fast
        receiver was drained mostly through the retry tiers, at a fifth of its pace.
        """
        if self.waiting < self.concurrency and total_waiting < total_budget:
            return math.inf
        if self._wait_is_short(now):
            return SHORT_WAIT_LIMIT_S
        return None

    def send_time(self, event_id: str, now: float, may_wait: bool) -> Go | Park:
        """Once it holds a concurrency slot: when the event may be sent, or until when to
        park it (with a reservation when the horizon allows)."""
        if self.rate is None:
            return Go(now)
        reserved = self.reserved.pop(event_id, None)
        if reserved is not None and reserved >= now:
            return Go(reserved)  # already counted by the schedule
        # Back late (its time passed on the way), the time is lost: sending now could crowd
        # the next reserved one. It asks afresh.
        free = self.rate.next_free(now)
        if free <= now or (free - now <= MEMORY_WAIT_S and may_wait):
            return Go(self.rate.take(now))
        if len(self.reserved) >= MAX_RESERVED:
            self._forget_stale(now)
        if free - now <= RESERVE_HORIZON_S and len(self.reserved) < MAX_RESERVED:
            at = self.rate.take(now)
            self.reserved[event_id] = at
            return Park(max(now, at - RETURN_LEAD_S))
        # Past the horizon: back once the reserved ones are through, spread over a horizon.
        return Park(free + spread(event_id) * RESERVE_HORIZON_S)

    def _forget_stale(self, now: float) -> None:
        """Reservations whose event never came back (deleted, paused meanwhile) expire."""
        for event_id, at in list(self.reserved.items()):
            if at < now - RESERVE_HORIZON_S:
                del self.reserved[event_id]

    def busy_until(self, event_id: str, now: float) -> float:
        """Until when to park an event that found every slot taken and no room to wait (a
        reserved send time it had is given up: it could not be kept)."""
        self.reserved.pop(event_id, None)
        until = max(now + BUSY_PARK_MIN_S, self.busy_next)
        if until > now + BUSY_PARK_MAX_S:
            # The line is longer than the cap: come back within it, spread out.
            return now + BUSY_PARK_MAX_S * (0.5 + spread(event_id) / 2)
        self.busy_next = until + self.hold_estimate(now) / self.concurrency
        return until

    def started(self, now: float) -> None:
        if self.sending == 0:
            self.progress_at = now
        self.sending += 1

    def finished(self, started_at: float, now: float) -> None:
        self.sending -= 1
        self.progress_at = now
        self.hold_s += HOLD_WEIGHT * (now - started_at - self.hold_s)


def parked_event(event: dict[str, Any], now_ms: int, wait_s: float) -> dict[str, Any]:
    """The event re-queued to come back in `wait_s`: the same attempt number and trigger (it is
    not an attempt); created now like any re-queued event, so it reads SCHEDULED until due."""
    return {**event, "created_at": now_ms, "due_at": now_ms + max(1, math.ceil(wait_s * 1000))}


def parking_tier(wait_ms: int) -> int:
    """The retry tier a parked event waits on: the largest that fits, else the smallest (even a
    short wait is spent in a tier's consumer, never in an events slot)."""
    return tier_for(wait_ms) or RETRY_TIERS_MS[0]
