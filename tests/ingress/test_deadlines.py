"""The ingress's Deadline means what asyncio.timeout means: its own expiry is a TimeoutError,
anyone else's cancel stays a cancel, and nothing is left pending on the task afterwards."""

from __future__ import annotations

import asyncio

import pytest

from ingress.deadlines import Deadline

LONG_S = 60.0  # never reached: a body that would wait this long is cut by its deadline first


async def test_a_body_done_in_time_is_left_alone() -> None:
    loop = asyncio.get_running_loop()
    with Deadline(loop, LONG_S) as deadline:
        await asyncio.sleep(0)
        result = "done"
    assert result == "done" and not deadline.expired
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_an_expired_deadline_is_a_timeout_and_leaves_no_cancel_behind() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError), Deadline(loop, 0.01) as deadline:
        await asyncio.sleep(LONG_S)
    assert deadline.expired
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)  # the task goes on: no cancellation is still due


async def test_a_timeout_inside_is_told_apart_from_one_outside() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError), Deadline(loop, LONG_S) as outer:
        with Deadline(loop, 0.01) as inner:
            await asyncio.sleep(LONG_S)
    assert inner.expired and not outer.expired


async def test_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    started = asyncio.Event()
    seen: list[BaseException] = []

    async def step() -> None:
        try:
            with Deadline(asyncio.get_running_loop(), LONG_S):
                started.set()
                await asyncio.sleep(LONG_S)
        except BaseException as exc:
            seen.append(exc)
            raise

    task = asyncio.create_task(step())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [type(e) for e in seen] == [asyncio.CancelledError]


async def test_a_cancel_from_elsewhere_wins_over_an_expiry_at_the_same_time() -> None:
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    release = asyncio.Event()

    async def step() -> None:
        with Deadline(loop, 0.01) as deadline:
            started.set()
            try:
                await asyncio.sleep(LONG_S)
            except asyncio.CancelledError:
                # Expired and cancelled from outside before the body ran again.
                assert deadline.expired
                await release.wait()
                raise

    task = asyncio.create_task(step())
    await asyncio.wait_for(started.wait(), 10)

    async def expired() -> None:
        while not task.cancelling():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(expired(), 10)
    task.cancel()  # a second cancel: the shutdown's, say
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_outside_a_task_it_refuses() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError), Deadline(loop, LONG_S):
            pass
    finally:
        loop.close()
