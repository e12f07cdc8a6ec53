"""One destination waiting on its limits never starves another team's deliveries.

The deliverer's global in-flight bound is lowered here so a backlog larger than it is quick to
build: 40 slots, 10 per destination.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from deliverer.keys import CONSUMERS, METRICS
from deliverer.waiting import WaitingConsumer
from runtime.settings import Settings
from tests.support.deliverer import (
    Pipe,
    attempts_for,
    declare_pipe,
    make_event,
    publish_events,
)
from tests.support.poll import eventually
from tests.support.receiver import Receiver

GLOBAL_SLOTS = 40


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(deliverer_max_in_flight=GLOBAL_SLOTS, destination_max_in_flight=10)


@pytest.fixture
async def other() -> AsyncIterator[Receiver]:
    running = await Receiver().start()
    yield running
    await running.stop()


def parked(deliverer) -> tuple[float, int]:
    """Events parked, and events waiting in the retry tiers' consumers."""
    count = deliverer.app[METRICS].registry.get_sample_value("fasthook_deliverer_parked_total")
    [consumer] = [c for c in deliverer.app[CONSUMERS] if isinstance(c, WaitingConsumer)]
    held = deliverer.settings.topics.held
    waiting = sum(consumer.in_flight_of(topic) for topic in consumer.lines if topic != held)
    return count or 0.0, waiting


async def test_a_destination_limited_to_one_an_hour_does_not_stall_another_team(
    deliverer, receiver, other, producer, settings, bootstrap
):
    throttled = await declare_pipe(
        producer, settings, receiver.url, rate_limit=1, rate_limit_period="hour"
    )
    backlog = [make_event(throttled) for _ in range(GLOBAL_SLOTS * 5)]
    await publish_events(producer, settings, backlog)
    await receiver.wait_for(1)

    pipe = await declare_pipe(producer, settings, other.url)
    events = [make_event(pipe) for _ in range(20)]
    await publish_events(producer, settings, events)
    await other.wait_for(20, timeout_s=15)
    assert sorted(other.event_ids()) == sorted(e["event_id"] for e in events)
    assert len(receiver.received) == 1  # the rate limit still holds

    # Parking is not an attempt: the throttled events have none yet, and keep their number.
    found = await attempts_for(bootstrap, settings, [e["event_id"] for e in backlog], 1)
    assert sum(len(a) for a in found.values()) == 1


async def test_a_hanging_destination_with_a_backlog_does_not_stall_another_team(
    deliverer, other, producer, settings
):
    hanging = await Receiver(answer=lambda n, r: None).start()
    try:
        stuck = await declare_pipe(producer, settings, hanging.url, timeout_ms=20_000)
        await publish_events(
            producer, settings, [make_event(stuck) for _ in range(GLOBAL_SLOTS * 5)]
        )
        await hanging.wait_for(10)  # its concurrency is full, and stays so

        pipe = await declare_pipe(producer, settings, other.url)
        events = [make_event(pipe) for _ in range(20)]
        await publish_events(producer, settings, events)
        await other.wait_for(20, timeout_s=15)
        assert len(hanging.received) == 10  # never more than its concurrency at once
    finally:
        await hanging.stop()


async def test_a_fast_destinations_backlog_waits_its_turn_instead_of_being_parked(
    deliverer, receiver, producer, settings
):
    """Ten times the global slots for one fast receiver: its line turns over in well under a
    second, so its events wait in memory past the shared budget instead of touring the retry
    tiers (before: a quarter of them were parked, and a backlog drained at a fifth of its
    pace)."""
    pipe = await declare_pipe(producer, settings, receiver.url)
    events = [make_event(pipe) for _ in range(GLOBAL_SLOTS * 10)]
    await publish_events(producer, settings, events)
    await receiver.wait_for(len(events), timeout_s=90)
    assert sorted(receiver.event_ids()) == sorted(e["event_id"] for e in events)
    # A few may park on a loaded machine (a delivery slowed past the estimate), not a quarter.
    assert parked(deliverer)[0] <= len(events) // 20


async def p99_s(producer, settings, pipe: Pipe, receiver: Receiver, count: int) -> float:
    """p99 seconds from an event's creation (just before it is published, in chunks of 50)
    to its arrival at `receiver`."""
    already = len(receiver.received)
    created: dict[str, float] = {}
    for _ in range(0, count, 50):
        events = [make_event(pipe) for _ in range(50)]
        created.update((e["event_id"], e["created_at"] / 1000) for e in events)
        await publish_events(producer, settings, events)
    await receiver.wait_for(already + count, timeout_s=30)
    wall = time.time() - time.monotonic()  # the receiver stamps arrivals on the monotonic clock
    lags = sorted(
        r.at + wall - created[r.header("x-fasthook-event-id") or ""]
        for r in receiver.received[already:]
    )
    return lags[int(len(lags) * 0.99) - 1]


async def test_a_throttled_backlog_of_5000_leaves_another_teams_p99_within_2x(
    deliverer, receiver, other, producer, settings
):
    pipe = await declare_pipe(producer, settings, other.url)
    await p99_s(producer, settings, pipe, other, 100)  # warm: its deliveries' pace is known
    # The slower of two solo runs: on a shared machine one lucky run should not set the bar.
    alone = max([await p99_s(producer, settings, pipe, other, 1000) for _ in range(2)])

    throttled = await declare_pipe(
        producer, settings, receiver.url, rate_limit=1, rate_limit_period="minute"
    )
    await publish_events(producer, settings, [make_event(throttled) for _ in range(5000)])

    async def backlog_parked() -> bool:
        count, waiting = parked(deliverer)
        return count >= 4999 and waiting >= 4999  # and at rest in the tiers

    await eventually(backlog_parked, 30, "the throttled backlog parked", 0.1)

    beside = await p99_s(producer, settings, pipe, other, 1000)
    print(
        f"another team's p99: {alone * 1000:.0f} ms alone, {beside * 1000:.0f} ms beside "
        "a throttled destination with a 5000-event backlog"
    )
    # 2x, with a floor of 500 ms for the timing noise of a shared 2-core machine.
    assert beside <= max(2 * alone, alone + 0.5)
    assert len(receiver.received) == 1


async def test_parked_events_come_back_and_keep_the_rate(
    deliverer, receiver, producer, settings, bootstrap
):
    """More than the in-memory wait allows: the rest is parked with reserved send times."""
    pipe = await declare_pipe(
        producer, settings, receiver.url, rate_limit=4, rate_limit_period="second"
    )
    events = [make_event(pipe) for _ in range(30)]
    await publish_events(producer, settings, events)
    await receiver.wait_for(30, timeout_s=20)
    assert parked(deliverer)[0] > 0
    arrivals = [r.at for r in receiver.received]
    # Evenly spaced at 4 a second (arrivals jitter with the machine's load, sends do not).
    assert arrivals[-1] - arrivals[0] >= 29 * 0.25 - 0.1
    # 4 a second, +1 at a window's edge, +1 for one arrival delayed onto the next (seen once in
    # a loaded full run); the spacing itself is proven exactly in test_parking.
    assert max(sum(1 for t in arrivals if s <= t < s + 1.0) for s in arrivals) <= 6
    found = await attempts_for(bootstrap, settings, [e["event_id"] for e in events], 30)
    assert all(
        [(a["attempt_number"], a["trigger"], a["event_status"]) for a in attempts]
        == [(1, "INITIAL", "SUCCESSFUL")]
        for attempts in found.values()
    )


async def test_a_hanging_destinations_parked_backlog_gets_one_attempt_each(
    deliverer, producer, settings, bootstrap
):
    hanging = await Receiver(answer=lambda n, r: None).start()
    try:
        # 1 s a delivery: ten waiting for its ten slots is a wait longer than a second, so the
        # rest is parked (at 300 ms a delivery, the line turns over fast enough to wait).
        pipe = await declare_pipe(producer, settings, hanging.url, timeout_ms=1_000)
        events = [make_event(pipe) for _ in range(60)]
        await publish_events(producer, settings, events)
        found = await attempts_for(
            bootstrap, settings, [e["event_id"] for e in events], 60, timeout_s=90
        )
        assert parked(deliverer)[0] > 0
        assert all(
            [(a["attempt_number"], a["error_code"]) for a in attempts] == [(1, "TIMEOUT")]
            for attempts in found.values()
        )
        assert sorted(hanging.event_ids()) == sorted(e["event_id"] for e in events)
    finally:
        await hanging.stop()
