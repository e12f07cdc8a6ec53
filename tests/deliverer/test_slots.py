"""A line's concurrency slots: handed over in arrival order, bounded waits, cancellation."""

from __future__ import annotations

import asyncio
import math

import pytest

from deliverer.limits import Slots
from tests.support.poll import eventually


async def waiting(slots: Slots, count: int) -> bool:
    return len(slots._waiters) == count


async def test_freed_slots_go_to_the_waiters_in_arrival_order():
    slots = Slots(1)
    assert slots.take() and slots.locked()
    order: list[int] = []

    async def wait(n: int) -> None:
        assert await slots.take_within(math.inf)
        order.append(n)

    tasks = [asyncio.create_task(wait(n)) for n in range(3)]
    await eventually(lambda: waiting(slots, 3), what="three waiters")
    for _ in range(3):
        slots.release()
        await asyncio.sleep(0)  # the woken waiter records itself
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2] and slots.locked()
    slots.release()
    assert not slots.locked()


async def test_a_bounded_wait_ends_without_a_slot_and_is_skipped():
    slots = Slots(1)
    assert slots.take()
    assert await slots.take_within(0.01) is False
    slots.release()  # nobody waits any more: the slot is free again
    assert not slots.locked() and slots.take()


async def test_a_waiter_cancelled_after_its_slot_was_handed_passes_it_on():
    slots = Slots(1)
    assert slots.take()
    first = asyncio.create_task(slots.take_within(math.inf))
    second = asyncio.create_task(slots.take_within(math.inf))
    await eventually(lambda: waiting(slots, 2), what="two waiters")
    slots.release()  # handed to the first…
    first.cancel()  # …which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is True
    assert slots.locked()
