"""A disabled or deleted connection or destination delivers nothing more: what is queued, held
or scheduled for it is cancelled, with an attempt that says why."""

from __future__ import annotations

import pytest

from api.config_log import publish_tombstone
from deliverer.keys import KAFKA
from tests.support.config import update
from tests.support.deliverer import Pipe, attempts_for, declare_pipe, make_event, publish_events
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.receiver import Receiver, answers

RETRY = {"type": "retry", "strategy": "linear", "count": 5, "interval": 3000}
DISABLED_AT = "2026-11-28T00:00:00.000Z"


async def change(producer, settings, pipe: Pipe, target: str, how: str) -> None:
    entity = pipe.connection if target == "connection" else pipe.destination
    if how == "deleted":
        await publish_tombstone(producer, settings.topics.config, entity["id"])
    else:
        await update(
            producer, settings, target, entity, 2, status="disabled", disabled_at=DISABLED_AT
        )


@pytest.mark.parametrize(
    ("target", "how"),
    [
        ("connection", "disabled"),
        ("destination", "disabled"),
        ("connection", "deleted"),
        ("destination", "deleted"),
    ],
)
async def test_scheduled_queued_and_new_events_are_cancelled(
    deliverer, producer, settings, bootstrap, target, how
):
    receiver = await Receiver(answer=answers(then=500)).start()
    try:
        pipe = await declare_pipe(producer, settings, receiver.url, [RETRY])
        retried = make_event(pipe)
        queued = make_event(pipe, delay_ms=3500)  # read at once, waiting to be due
        await publish_events(producer, settings, [retried, queued])

        async def scheduled() -> bool:
            attempts = await read_topic(bootstrap, settings.topics.attempts)
            return any(a["event_status"] == "SCHEDULED" for a in attempts)

        await eventually(scheduled, 10, "the first attempt failed and a retry is scheduled")

        await change(producer, settings, pipe, target, how)
        await deliverer.app[KAFKA].follower.sync()
        new = make_event(pipe)
        await publish_events(producer, settings, [new])

        events = [retried, queued, new]
        found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 3)
        code = f"{target.upper()}_{how.upper()}"
        for event in events:
            last = found[event["event_id"]][-1]
            assert (last["status"], last["event_status"], last["error_code"]) == (
                "FAILED",
                "CANCELLED",
                code,
            ), event["event_id"]
        assert [a["attempt_number"] for a in found[retried["event_id"]]] == [1, 2]
        assert len(receiver.received) == 1  # only the first attempt of the retried event
    finally:
        await receiver.stop()


@pytest.mark.parametrize("how", ["disabled", "deleted"])
async def test_held_events_of_a_disabled_or_deleted_connection_are_cancelled(
    deliverer, receiver, producer, settings, bootstrap, how
):
    pipe = await declare_pipe(producer, settings, receiver.url)
    pipe.connection = await update(
        producer, settings, "connection", pipe.connection, 2, paused_at="2026-11-28T00:00:00.000Z"
    )
    await deliverer.app[KAFKA].follower.sync()
    events = [make_event(pipe) for _ in range(3)]
    await publish_events(producer, settings, events)

    async def held() -> bool:
        return len(await read_topic(bootstrap, settings.topics.held)) >= 3

    await eventually(held, 10, "events held")

    if how == "deleted":
        await publish_tombstone(producer, settings.topics.config, pipe.connection["id"])
    else:
        await update(
            producer,
            settings,
            "connection",
            pipe.connection,
            3,
            status="disabled",
            disabled_at=DISABLED_AT,
        )
    found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 3)
    assert {(a[-1]["event_status"], a[-1]["error_code"]) for a in found.values()} == {
        ("CANCELLED", f"CONNECTION_{how.upper()}")
    }
    assert receiver.received == []


async def test_an_enabled_again_connection_delivers_new_events(
    deliverer, receiver, producer, settings, bootstrap
):
    pipe = await declare_pipe(producer, settings, receiver.url)
    disabled = await update(
        producer,
        settings,
        "connection",
        pipe.connection,
        2,
        status="disabled",
        disabled_at=DISABLED_AT,
    )
    await update(producer, settings, "connection", disabled, 3, status="enabled", disabled_at=None)
    await deliverer.app[KAFKA].follower.sync()
    event = make_event(pipe)
    await publish_events(producer, settings, [event])
    found = await attempts_for(bootstrap, settings, [event["event_id"]], 1)
    assert found[event["event_id"]][-1]["event_status"] == "SUCCESSFUL"
