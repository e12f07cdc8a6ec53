"""A line's concurrency slots: handed over in arrival order, bounded waits, cancellation."""

from __future__ import annotations

import asyncio
import math

import pytest

from deliverer.limits import Slots, _expire
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


async def test_a_free_slot_is_taken_without_waiting():
    slots = Slots(2)
    assert await slots.take_within(0.0) is True
    assert await slots.take_within(math.inf) is True
    assert slots.locked() and not slots._waiters


async def test_a_waiter_cancelled_while_waiting_takes_no_slot_with_it():
    slots = Slots(1)
    assert slots.take()
    waiter = asyncio.create_task(slots.take_within(math.inf))
    await eventually(lambda: waiting(slots, 1), what="a waiter")
    waiter.cancel()  # still waiting: nothing was handed over
    with pytest.raises(asyncio.CancelledError):
        await waiter
    slots.release()  # skips the cancelled waiter: the slot is free again
    assert not slots.locked() and slots.take()


async def test_a_wait_that_ends_as_its_slot_is_handed_over_keeps_the_slot():
    # The timer can fire after release() handed the slot over but before the waiter ran:
    # the handed slot stands.
    handed = asyncio.get_running_loop().create_future()
    handed.set_result(True)
    _expire(handed)
    assert handed.result() is True
