"""The consumer loops' shell: a loop that sees `stopping` ends on its own; one that does not
is cancelled past the bound; one that dies is logged and no longer running."""

from __future__ import annotations

import asyncio
import logging

import pytest

from runtime.background import BackgroundTask


async def test_a_loop_finishes_its_batch_then_returns() -> None:
    task = BackgroundTask("batches")
    finished: list[int] = []

    async def body() -> None:
        batch = 0
        while not task.stopping:
            batch += 1
            await asyncio.sleep(0.01)
            finished.append(batch)

    assert not task.running
    task.start(body())
    while not finished:
        await asyncio.sleep(0.01)
    assert task.running
    await task.stop(timeout_s=30)
    assert not task.running
    # The batch in hand when stop came was finished, not cut.
    assert finished == list(range(1, len(finished) + 1))


async def test_a_loop_that_ignores_stopping_is_cancelled_past_the_bound() -> None:
    task = BackgroundTask("stubborn")
    cancelled = asyncio.Event()

    async def body() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task.start(body())
    await asyncio.sleep(0)
    await task.stop(timeout_s=0.05)
    assert cancelled.is_set() and not task.running


async def test_a_loop_that_dies_is_logged_at_once(caplog: pytest.LogCaptureFixture) -> None:
    task = BackgroundTask("fragile")

    async def body() -> None:
        raise ValueError("broken record")

    with caplog.at_level(logging.ERROR, logger="runtime.background"):
        task.start(body())
        while task.running:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # the done callback runs on the next loop turn
    assert any(r.message == "fragile stopped" and r.exc_info for r in caplog.records)
    await task.stop()  # stopping a dead loop is harmless
