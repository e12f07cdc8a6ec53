"""A line's bounded waits share one timer: each still ends at its own bound, in order."""

from __future__ import annotations

import asyncio
import math

from hypothesis import given, settings
from hypothesis import strategies as st

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


bounds = st.lists(st.sampled_from([math.inf, 0.0, 0.01, 0.02, 0.04]), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None)
@given(bounds, st.integers(min_value=0, max_value=12))
def test_bounded_waits_end_no_sooner_than_their_bound_and_slots_go_in_arrival_order(
    waits: list[float], handed: int
) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        slots = Slots(1)
        assert slots.take()
        ended: dict[int, float] = {}
        waiters = []
        for n, wait_s in enumerate(waits):
            joined = loop.time()  # before the wait's own clock reading: never later than it
            waiter = slots.wait(wait_s)
            waiter.add_done_callback(lambda _, n=n: ended.setdefault(n, loop.time()))
            waiters.append((joined, wait_s, waiter))
        for _ in range(handed):
            slots.release()  # to the first still waiting, if any
        bounded = {n for n, wait_s in enumerate(waits) if wait_s != math.inf}
        await eventually(lambda: _all_in(bounded, ended), what="every bounded wait to end")
        got = [n for n, (_, _, w) in enumerate(waiters) if w.done() and w.result()]
        # Released before any bound could pass: handed to the first in line, in order…
        assert got == list(range(min(handed, len(waits))))
        for n, (joined, wait_s, waiter) in enumerate(waiters):
            if waiter.done() and not waiter.result():  # …and none expired before its bound
                assert ended[n] >= joined + wait_s - 0.002
        # Each release handed a slot to one live waiter, or (nobody left) counted it back.
        assert len(got) + slots.free == handed

    asyncio.run(scenario())


async def _all_in(bounded: set[int], ended: dict[int, float]) -> bool:
    return bounded <= ended.keys()
