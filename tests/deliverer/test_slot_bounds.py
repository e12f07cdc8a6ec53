"""A line's bounded waits share one timer: each still ends at its own bound, in order."""

from __future__ import annotations

import asyncio
import math

from deliverer.limits import Slots
from tests.support.poll import eventually


async def test_many_bounded_waiters_share_one_timer_and_each_ends_at_its_bound():
    slots = Slots(1)
    assert slots.take()
    short = [slots.wait(0.05) for _ in range(3)]
    timer = slots._timer
    longer = [slots.wait(60.0) for _ in range(3)]
    assert timer is not None and slots._timer is timer  # later bounds arm nothing new
    await asyncio.gather(*short)
    assert [w.result() for w in short] == [False] * 3
    # Re-armed for the next bound, not past it.
    assert not any(w.done() for w in longer) and slots._timer is not None
    for _ in longer:
        slots.release()  # the expired are skipped: handed to the longer waits in turn
    assert [w.result() for w in longer] == [True] * 3
    slots.release()  # nobody waits: counted back, and the shared timer goes
    assert not slots.locked() and slots._timer is None and not slots._bounds


async def test_an_earlier_bound_rearms_the_timer_sooner():
    slots = Slots(1)
    assert slots.take()
    late = slots.wait(30.0)
    soon = slots.wait(0.02)
    assert await soon is False
    assert not late.done()
    slots.release()  # handed to the one still waiting
    assert late.result() is True
    assert slots.locked()


async def test_served_waiters_leave_no_timer_behind_once_the_line_is_empty():
    slots = Slots(2)
    assert slots.take() and slots.take()
    waiters = [slots.wait(60.0) for _ in range(2)]
    slots.release()
    slots.release()
    assert [w.result() for w in waiters] == [True, True]
    slots.release()  # nobody waits: counted back, and the bounds of the served go with it
    assert slots._timer is None and not slots._bounds and slots.free == 1


async def test_a_waiter_served_before_its_bound_is_not_expired_by_the_shared_timer():
    slots = Slots(1)
    assert slots.take()
    served = slots.wait(0.02)
    unbounded = slots.wait(math.inf)
    bounded = slots.wait(0.04)
    slots.release()
    assert served.result() is True
    await eventually(lambda: _done(bounded), what="the later bound to pass")
    assert bounded.result() is False and served.result() is True and not unbounded.done()
    slots.release()  # the unbounded waiter is still in line and gets it
    assert unbounded.result() is True


async def _done(waiter: asyncio.Future[bool]) -> bool:
    return waiter.done()
