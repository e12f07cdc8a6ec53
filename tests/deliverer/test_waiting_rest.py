"""The waiting topics' consumer rests long when idle, and the deliverer wakes it.

Only the deliverer writes to the retry tiers and held: when it schedules an event on a tier,
holds one, or a connection is released, the waiting consumer stops resting (runtime.resting)
and reads at once, so its long idle rests delay nothing this process wrote or released.
"""

from __future__ import annotations

import asyncio

import pytest

from deliverer.delivery import Delivery
from deliverer.keys import CONSUMERS
from deliverer.waiting import WAITING_GROUP_OPTIONS, WAITING_HOLD_S, WaitingConsumer
from runtime.resting import RestingFetcher
from schemas.topics import RETRY_TIERS_MS
from tests.support.poll import eventually

pytestmark = pytest.mark.stack


def consumers(deliverer) -> tuple[WaitingConsumer, object]:
    waiting = [c for c in deliverer.app[CONSUMERS] if isinstance(c, WaitingConsumer)]
    others = [c for c in deliverer.app[CONSUMERS] if not isinstance(c, WaitingConsumer)]
    assert len(waiting) == 1 and len(others) == 1, "one events consumer, one waiting consumer"
    return waiting[0], others[0]


async def resting(fetcher: RestingFetcher) -> dict[asyncio.Future[None], float]:
    async def holding() -> bool:
        return bool(fetcher.holding)

    await eventually(holding, timeout_s=30, what="the fetcher resting")
    return dict(fetcher.holding)


def ended_only_by_their_timer(holds: dict[asyncio.Future[None], float]) -> bool:
    now = asyncio.get_running_loop().time()
    return all(not hold.done() or until <= now for hold, until in holds.items())


async def test_one_consumer_reads_held_and_every_tier_resting_long(deliverer):
    waiting, events = consumers(deliverer)
    topics = deliverer.settings.topics
    assert set(waiting.topics) == {topics.held, *(topics.retry(t) for t in RETRY_TIERS_MS)}
    fetcher = waiting.consumer._fetcher
    assert isinstance(fetcher, RestingFetcher) and fetcher.hold_max_s == WAITING_HOLD_S
    # Its group heartbeats less often than the events group's.
    coordinator = waiting.consumer._coordinator
    assert coordinator._heartbeat_interval_ms == WAITING_GROUP_OPTIONS["heartbeat_interval_ms"]
    assert events.consumer._coordinator._heartbeat_interval_ms < coordinator._heartbeat_interval_ms


@pytest.mark.parametrize("how", ["scheduled or held", "connection released"])
async def test_the_deliverer_ends_the_waiting_consumers_rest_and_no_other(deliverer, how):
    waiting, events = consumers(deliverer)
    delivery = waiting.lines[deliverer.settings.topics.held].handle.__self__
    assert isinstance(delivery, Delivery)
    holds = await resting(waiting.consumer._fetcher)
    others = await resting(events.consumer._fetcher)
    if how == "scheduled or held":
        delivery.on_waiting()
    else:
        delivery.view.on_release("web_unknown")
    assert all(hold.done() for hold in holds)
    assert ended_only_by_their_timer(others)
