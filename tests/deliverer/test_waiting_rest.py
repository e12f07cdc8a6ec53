"""The retry tiers' consumers rest long when idle, and the deliverer wakes the tier it writes to.

Only the deliverer writes to the retry tiers: when it schedules an event on one, that tier's
consumer stops resting (runtime.resting) and reads the record at once, so the tiers' long idle
rests delay nothing this process wrote.
"""

from __future__ import annotations

import asyncio

import pytest

from deliverer.app import TIER_REST_S, WAITING_GROUP_OPTIONS
from deliverer.delivery import Delivery
from deliverer.keys import CONSUMERS
from runtime.consuming import ConcurrentConsumer
from runtime.resting import RestingFetcher
from schemas.topics import RETRY_TIERS_MS
from tests.support.poll import eventually

pytestmark = pytest.mark.stack


def tier_consumers(deliverer) -> dict[int, ConcurrentConsumer]:
    by_group = {c.group: c for c in deliverer.app[CONSUMERS]}
    return {
        tier: next(c for g, c in by_group.items() if g.endswith(f"-deliverer-tier-{tier}"))
        for tier in RETRY_TIERS_MS
    }


async def test_scheduling_on_a_tier_ends_that_tiers_rest_and_no_other(deliverer):
    tiers = tier_consumers(deliverer)
    fetchers = {tier: c.consumer._fetcher for tier, c in tiers.items()}
    assert all(isinstance(f, RestingFetcher) for f in fetchers.values())
    assert all(f.hold_max_s == TIER_REST_S for f in fetchers.values())
    # The tiers' groups heartbeat less often than the events group's.
    for consumer in tiers.values():
        coordinator = consumer.consumer._coordinator
        assert coordinator._heartbeat_interval_ms == WAITING_GROUP_OPTIONS["heartbeat_interval_ms"]

    first, other = RETRY_TIERS_MS[0], RETRY_TIERS_MS[-1]

    async def both_resting() -> bool:
        return bool(fetchers[first].holding) and bool(fetchers[other].holding)

    await eventually(both_resting, timeout_s=30, what="both tiers' fetchers resting")
    resting = {tier: dict(fetchers[tier].holding) for tier in (first, other)}
    delivery = tiers[first].handle.__self__
    assert isinstance(delivery, Delivery)
    delivery.on_scheduled(first)
    assert all(hold.done() for hold in resting[first])
    # The other tier rests on: a rest of its that ended was ended by its own timer.
    now = asyncio.get_running_loop().time()
    assert all(not hold.done() or until <= now for hold, until in resting[other].items())
