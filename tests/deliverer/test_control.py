"""Pause and unpause, the SSRF guard, and per-destination rate limits."""

from __future__ import annotations

import time

from deliverer.keys import KAFKA, VIEW
from tests.support.config import update
from tests.support.deliverer import (
    attempts_for,
    declare_pipe,
    make_event,
    publish_events,
    start_deliverer,
)
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.receiver import Receiver


async def test_paused_connection_holds_events_and_unpause_delivers_them(
    deliverer, receiver, producer, settings, bootstrap
):
    pipe = await declare_pipe(producer, settings, receiver.url)
    paused = await update(
        producer, settings, "connection", pipe.connection, 2, paused_at="2026-11-27T00:00:00.000Z"
    )
    await deliverer.app[KAFKA].follower.sync()
    assert deliverer.app[VIEW].connections[pipe.connection["id"]].paused
    events = [make_event(pipe) for _ in range(5)]
    await publish_events(producer, settings, events)

    async def held() -> bool:
        return len(await read_topic(bootstrap, settings.topics.held)) >= 5

    await eventually(held, 10, "events held")
    assert receiver.received == []

    await update(producer, settings, "connection", paused, 3, paused_at=None)
    found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 5)
    assert all(
        a[-1]["trigger"] == "UNPAUSE" and a[-1]["event_status"] == "SUCCESSFUL"
        for a in found.values()
    )
    assert sorted(receiver.event_ids()) == sorted(e["event_id"] for e in events)


async def test_loopback_destination_is_blocked_without_an_allow_list(
    receiver, producer, settings, bootstrap
):
    guarded = await start_deliverer(settings.with_(allowed_destinations=""))
    try:
        pipe = await declare_pipe(
            producer,
            settings,
            receiver.url,
            [{"type": "retry", "strategy": "linear", "count": 3, "interval": 100}],
        )
        event = make_event(pipe)
        await publish_events(producer, settings, [event])
        [attempt] = (await attempts_for(bootstrap, settings, [event["event_id"]], 1))[
            event["event_id"]
        ]
        assert attempt["error_code"] == "BLOCKED_DESTINATION"
        assert attempt["event_status"] == "FAILED"  # never retried: it will not get better
        assert receiver.received == []
    finally:
        await guarded.runner.cleanup()


async def test_rate_limit_per_second_is_respected(
    deliverer, receiver, producer, settings, bootstrap
):
    pipe = await declare_pipe(
        producer, settings, receiver.url, rate_limit=5, rate_limit_period="second"
    )
    events = [make_event(pipe) for _ in range(15)]
    started = time.monotonic()
    await publish_events(producer, settings, events)
    await receiver.wait_for(15)
    # Evenly spaced at 5 a second: the n-th send cannot come before n / 5 s. A call arrives at
    # or after its send (the network only delays), so the n-th arrival is bound the same way
    # however a loaded machine bunches arrivals together.
    arrivals = sorted(r.at - started for r in receiver.received)
    late = [(n, round(at, 3)) for n, at in enumerate(arrivals) if at < n / 5 - 0.25]
    assert not late, f"calls arrived faster than 5 a second: {late}"


async def test_transport_failures_are_named(deliverer, receiver, producer, settings, bootstrap):
    """TLS to a plain-HTTP receiver, and a receiver that never answers, each get their code."""
    hanging = Receiver(answer=lambda n, r: None)
    await hanging.start()
    try:
        tls = await declare_pipe(
            producer, settings, receiver.url.replace("http://", "https://") + "/tls"
        )
        slow = await declare_pipe(producer, settings, hanging.url, timeout_ms=300)
        events = [make_event(tls), make_event(slow)]
        await publish_events(producer, settings, events)
        found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 2)
        codes = {event_id: attempts[0]["error_code"] for event_id, attempts in found.items()}
        assert codes[events[0]["event_id"]] == "TLS_ERROR"
        assert codes[events[1]["event_id"]] == "TIMEOUT"
        assert all(attempts[0]["response_status"] is None for attempts in found.values())
    finally:
        await hanging.stop()
