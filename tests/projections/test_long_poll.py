"""The events list's long poll (`after_batch`), on the real broker and engine: it answers as
soon as the projector stores a batch of event facts, and otherwise only when its wait ends."""

from __future__ import annotations

import asyncio
import time

import pytest

from projections import handlers
from tests.projections.conftest import TEAM, Service
from tests.projections.records import event_record, publish, request_record
from tests.support.poll import eventually


async def test_a_long_poll_answers_when_events_are_stored(
    service: Service, producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = event_record(request_record(TEAM, "src_tail"))
    await publish(producer, service.settings, "events", [first])
    await service.wait_for("/v1/events", 1, source_id="src_tail")

    async def counted() -> int:
        # Rows show as soon as their table is written; the batch counts once all are.
        return (await service.get("/v1/events", source_id="src_tail"))["batch"]

    batch = await eventually(counted, 10, "the batch counted", 0.05)

    # Nothing new: the answer waits for the whole wait (a lower bound holds on any machine).
    monkeypatch.setattr(handlers, "TAIL_WAIT_S", 1.0)
    began = time.monotonic()
    idle = await service.get("/v1/events", source_id="src_tail", after_batch=batch)
    assert time.monotonic() - began >= 0.9
    assert idle["batch"] == batch and [m["id"] for m in idle["models"]] == [first["event_id"]]

    # An event stored meanwhile wakes the waiting poll, which answers with it.
    monkeypatch.setattr(handlers, "TAIL_WAIT_S", 60.0)
    waiting = asyncio.create_task(
        service.get("/v1/events", source_id="src_tail", after_batch=batch)
    )
    second = event_record(request_record(TEAM, "src_tail"))
    published = time.monotonic()
    await publish(producer, service.settings, "events", [second])
    answer = await eventually(lambda: _done(waiting), 30, "the long poll answered", 0.02)
    lag = time.monotonic() - published
    assert answer["batch"] > batch
    assert second["event_id"] in [m["id"] for m in answer["models"]]
    assert lag < 30  # far below the 60 s wait: it was the stored batch that answered
    print(f"stored → long poll answered: {lag * 1000:.0f} ms")

    # A number this projector never gave (a restarted one counts again): answered at once.
    again = await service.get("/v1/events", source_id="src_tail", after_batch=10**9)
    assert again["count"] == 2


async def _done(task: asyncio.Task) -> dict | None:
    return task.result() if task.done() else None
