"""`deliverer.limits.DestinationLimits`: a destination's concurrency and rate limits, and when
an event waits in memory instead of being parked (so it never holds what others need)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from deliverer.limits import DestinationLimits
from deliverer.parking import SHORT_WAIT_LIMIT_S, Line


def destination(
    rate: int | None = None, period: str | None = None, did: str = "des_1"
) -> dict[str, Any]:
    return {
        "id": did,
        "config": {
            "url": "https://receiver.example/hook",
            "rate_limit": rate,
            "rate_limit_period": period,
        },
    }


async def enter(
    limits: DestinationLimits, dest: dict[str, Any], event_id: str, release: asyncio.Event
) -> float | None:
    """Takes a slot (or is told to park) and holds it until `release`."""
    async with limits.slot(dest, event_id) as park_s:
        if park_s is None:
            await release.wait()
        return park_s


async def until(condition: Any) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.01)


def test_concurrency_comes_from_the_destination_capped_at_a_quarter_of_the_slots() -> None:
    limits = DestinationLimits(default_concurrency=5, global_slots=40)
    assert (limits.max_concurrency, limits.waiting_budget) == (10, 20)
    assert limits._line(destination())[0].concurrency == 5
    assert limits._line(destination(3, "concurrent"))[0].concurrency == 3
    assert limits._line(destination(50, "concurrent"))[0].concurrency == 10
    assert limits._line(destination(50, "minute"))[0].concurrency == 5
    assert limits._line(destination(50, "minute"))[0].rate is not None
    assert limits._line(destination(None, "minute"))[0].rate is None
    assert limits._line({"id": "des_2"})[0].concurrency == 5  # no config at all
    assert DestinationLimits(1, 1).max_concurrency == 1


def test_the_same_limits_keep_their_line_and_a_change_starts_a_new_one() -> None:
    limits = DestinationLimits(default_concurrency=2, global_slots=40)
    line = limits._line(destination(10, "second"))
    assert limits._line(destination(10, "second")) is line
    assert limits._line(destination(20, "second")) is not line
    assert limits._line(destination(10, "second", did="des_2")) is not line


async def test_a_free_destination_sends_at_once_and_holds_its_slot_until_done() -> None:
    limits = DestinationLimits(default_concurrency=1, global_slots=4)
    line, semaphore = limits._line(destination())
    async with limits.slot(destination(), "evt_1") as park_s:
        assert park_s is None
        assert semaphore.locked() and line.sending == 1
    assert not semaphore.locked() and line.sending == 0


async def full_line(
    hold_s: float,
) -> tuple[DestinationLimits, Line, asyncio.Event, list[asyncio.Task[float | None]]]:
    """One slot (4 global: 2 may wait), taken, and one event waiting for it, until `release`;
    a delivery has held a slot for `hold_s` so far."""
    limits = DestinationLimits(default_concurrency=1, global_slots=4)
    line, _ = limits._line(destination())
    line.hold_s = hold_s
    release = asyncio.Event()
    holder = asyncio.create_task(enter(limits, destination(), "evt_0", release))
    await until(lambda: line.sending == 1)
    waiter = asyncio.create_task(enter(limits, destination(), "evt_1", release))
    await until(lambda: limits.waiting == 1)
    return limits, line, release, [holder, waiter]


async def test_past_its_concurrency_one_event_waits_in_memory_the_next_is_parked() -> None:
    limits, line, release, (holder, waiter) = await full_line(1.0)
    # A third would wait twice as long as a delivery holds a slot: parked at once, holding
    # nothing.
    started = time.monotonic()
    async with limits.slot(destination(), "evt_3") as park_s:
        assert park_s is not None and park_s > 0
    assert time.monotonic() - started < SHORT_WAIT_LIMIT_S
    assert limits.waiting == 1
    release.set()
    assert await holder is None and await waiter is None
    assert limits.waiting == 0 and line.sending == 0


async def test_a_rate_limit_spaces_sends_in_memory_when_the_wait_is_short() -> None:
    limits = DestinationLimits(default_concurrency=4, global_slots=40)
    dest = destination(10, "second")  # one send every 0.1 s
    sent: list[float] = []
    start = time.monotonic()
    for event_id in ("evt_1", "evt_2", "evt_3"):
        async with limits.slot(dest, event_id) as park_s:
            assert park_s is None
            sent.append(time.monotonic())
    # Lower bounds only: however loaded the machine, no send comes before its slot on the
    # schedule (a late one does not push the next one back: the schedule keeps the rate).
    # 10 ms of slack: asyncio ends a sleep within its clock's resolution of the time.
    assert all(at - start >= k * 0.1 - 0.01 for k, at in enumerate(sent))


async def test_a_far_rate_limit_parks_the_event_until_its_reserved_time() -> None:
    limits = DestinationLimits(default_concurrency=4, global_slots=40)
    dest = destination(1, "hour")
    async with limits.slot(dest, "evt_1") as first:
        assert first is None
    line, semaphore = limits._line(dest)
    async with limits.slot(dest, "evt_2") as park_s:
        assert park_s is not None and 3000 < park_s <= 3600
    # Parking gave its slot back and kept its send time.
    assert not semaphore.locked() and "evt_2" in line.reserved


async def test_a_cancelled_wait_for_its_send_time_gives_the_slot_back() -> None:
    limits = DestinationLimits(default_concurrency=1, global_slots=4)
    dest = destination(1, "second")
    line, semaphore = limits._line(dest)
    async with limits.slot(dest, "evt_1"):
        pass
    waiting = asyncio.create_task(enter(limits, dest, "evt_2", asyncio.Event()))
    await until(lambda: limits.waiting == 1 and semaphore.locked())
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not semaphore.locked() and limits.waiting == 0 and line.waiting == 0


async def test_a_fast_line_waits_past_the_shared_budget_and_gets_its_slot() -> None:
    limits, line, release, tasks = await full_line(0.01)
    tasks += [
        asyncio.create_task(enter(limits, destination(), f"evt_{i}", release)) for i in (2, 3)
    ]
    await until(lambda: limits.waiting == 3)  # one past the budget: its line turns over fast
    release.set()
    assert [await task for task in tasks] == [None] * 4
    assert limits.waiting == 0 and line.sending == 0


async def test_a_bounded_wait_ends_in_a_park_when_the_slot_does_not_free() -> None:
    # Fast so far, then stuck: the holder does not finish.
    limits, _, release, (holder, waiter) = await full_line(0.01)
    _, semaphore = limits._line(destination())
    started = time.monotonic()
    park_s = await enter(limits, destination(), "evt_2", release)
    assert park_s is not None and park_s > 0
    assert time.monotonic() - started >= SHORT_WAIT_LIMIT_S - 0.01  # bounded wait, then parked
    assert limits.waiting == 1 and semaphore.locked()  # the slot it never got is not taken
    release.set()
    assert await holder is None and await waiter is None
    assert limits.waiting == 0 and not semaphore.locked()


async def test_an_event_cancelled_while_waiting_for_a_slot_leaves_the_line() -> None:
    # The consumer stops (or is revoked) while an event waits in memory for its slot: it
    # leaves the line, and the slot the holder frees is free, not handed to nobody.
    limits, line, release, (holder, waiter) = await full_line(1.0)
    _, slots = limits._line(destination())
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limits.waiting == 0 and line.waiting == 0
    release.set()
    assert await holder is None
    assert not slots.locked() and line.sending == 0
