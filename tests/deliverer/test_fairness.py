"""One destination waiting on its limits never starves another team's deliveries.

The deliverer's global in-flight bound is lowered here so a backlog larger than it is quick to
build: 40 slots, 10 per destination.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from deliverer.keys import METRICS
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


def parked(deliverer) -> float:
    return deliverer.app[METRICS].registry.get_sample_value(
        "fasthook_deliverer_parked_total") or 0.0


async def test_a_destination_limited_to_one_an_hour_does_not_stall_another_team(
    deliverer, receiver, other, producer, settings, bootstrap
):
    throttled = await declare_pipe(producer, settings, receiver.url, rate_limit=1,
                                   rate_limit_period="hour")
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
        await publish_events(producer, settings,
                             [make_event(stuck) for _ in range(GLOBAL_SLOTS * 5)])
        await hanging.wait_for(10)  # its concurrency is full, and stays so

        pipe = await declare_pipe(producer, settings, other.url)
        events = [make_event(pipe) for _ in range(20)]
        await publish_events(producer, settings, events)
        await other.wait_for(20, timeout_s=15)
        assert len(hanging.received) == 10  # never more than its concurrency at once
    finally:
        await hanging.stop()


async def p99_s(producer, settings, pipe: Pipe, receiver: Receiver, count: int) -> float:
    """p99 seconds from the start of publishing `count` events to their arrival."""
    already = len(receiver.received)
    started = time.monotonic()
    await publish_events(producer, settings, [make_event(pipe) for _ in range(count)])
    await receiver.wait_for(already + count, timeout_s=30)
    lags = sorted(r.at - started for r in receiver.received[already:])
    return lags[int(len(lags) * 0.99) - 1]


async def test_a_throttled_backlog_of_5000_leaves_another_teams_p99_within_2x(
    deliverer, receiver, other, producer, settings
):
    pipe = await declare_pipe(producer, settings, other.url)
    await p99_s(producer, settings, pipe, other, 100)  # warm: its deliveries' pace is known
    alone = await p99_s(producer, settings, pipe, other, 1000)

    throttled = await declare_pipe(producer, settings, receiver.url, rate_limit=1,
                                   rate_limit_period="minute")
    await publish_events(producer, settings, [make_event(throttled) for _ in range(5000)])

    async def backlog_parked() -> bool:
        return parked(deliverer) >= 4999
    await eventually(backlog_parked, 30, "the throttled backlog parked", 0.1)

    beside = await p99_s(producer, settings, pipe, other, 1000)
    print(f"another team's p99: {alone * 1000:.0f} ms alone, {beside * 1000:.0f} ms beside "
          "a throttled destination with a 5000-event backlog")
    # 2x, with a floor of 250 ms for the timing noise of a shared 2-core machine.
    assert beside <= max(2 * alone, alone + 0.25)
    assert len(receiver.received) == 1
