"""One consumer group for the deliverer's waiting topics (held and the retry tiers).

A topic at its budget of records in flight is paused while the others go on, and the new
group starts where the per-topic groups it replaces left off: what they committed past is not
handed back again after the switch, what they had not committed is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from deliverer.keys import CONSUMERS
from deliverer.waiting import WaitingConsumer
from runtime.seeding import commit_outside, seed_group_offsets
from runtime.settings import Settings
from schemas.codec import encode
from schemas.topics import RETRY_TIERS_MS
from tests.support.deliverer import Pipe, make_event, start_deliverer
from tests.support.kafka import committed_total, read_topic
from tests.support.poll import eventually

pytestmark = pytest.mark.stack


def a_pipe() -> Pipe:
    """Ids only: nothing reads a config for these events before they are handed back."""
    team = {"id": "tm_waiting"}
    connection = {"id": "web_waiting", "source_id": "src_waiting"}
    return Pipe(team, {"id": "des_waiting"}, connection, "")


async def publish_on(producer, topic: str, events: list[dict], key: bytes) -> TopicPartition:
    """The events on one partition of `topic` (one key), in this order."""
    for event in events:
        sent = await producer.send_and_wait(topic, encode("EventCreated", event), key=key)
    return TopicPartition(topic, sent.partition)


@pytest.fixture
async def recording(settings: Settings) -> AsyncIterator[tuple[WaitingConsumer, dict]]:
    """A waiting consumer over two tiers: the first's records wait until released."""
    slow, fast = settings.topics.retry(RETRY_TIERS_MS[-1]), settings.topics.retry(RETRY_TIERS_MS[0])
    release = asyncio.Event()
    seen: dict[str, list[int]] = {slow: [], fast: []}

    async def wait_long(record: ConsumerRecord) -> None:
        seen[slow].append(record.offset)
        await release.wait()

    async def at_once(record: ConsumerRecord) -> None:
        seen[fast].append(record.offset)

    consumer = WaitingConsumer(
        settings,
        f"{settings.topic_namespace}-waiting-budget",
        {slow: wait_long, fast: at_once},
        budget=3,
    )
    await consumer.start()
    try:
        yield consumer, {"slow": slow, "fast": fast, "seen": seen, "release": release}
    finally:
        release.set()
        await consumer.stop(0)


async def test_a_topic_at_its_budget_is_paused_and_holds_up_no_other(
    recording, producer, bootstrap
):
    consumer, t = recording
    seen, slow, fast = t["seen"], t["slow"], t["fast"]
    pipe = a_pipe()
    await publish_on(producer, slow, [make_event(pipe) for _ in range(3)], b"slow")

    async def slow_at_budget() -> bool:
        return consumer.in_flight_of(slow) == 3 and consumer.lines[slow].paused

    await eventually(slow_at_budget, 20, "the slow tier at its budget and paused", 0.05)
    await publish_on(producer, slow, [make_event(pipe) for _ in range(7)], b"slow")
    await publish_on(producer, fast, [make_event(pipe) for _ in range(5)], b"fast")

    async def fast_done() -> bool:
        return len(seen[fast]) == 5

    await eventually(fast_done, 20, "every record of the other tier handled", 0.05)
    # Written before the other tier's, the slow tier's later records were never fetched.
    assert seen[slow] == [0, 1, 2]
    assert consumer.in_flight_of(slow) == 3 and consumer.in_flight_of(fast) == 0

    t["release"].set()  # its records are handed back: the tier resumes and reads the rest

    async def all_committed() -> bool:
        await consumer.commit()
        return await committed_total(bootstrap, consumer.group, slow) == 10

    await eventually(all_committed, 20, "the slow tier read and committed to its end", 0.1)
    assert sorted(seen[slow]) == list(range(10))
    assert not consumer.lines[slow].paused


async def test_after_the_switch_only_what_the_old_groups_had_not_committed_is_handed_back(
    settings, producer, bootstrap
):
    ns, topics = settings.topic_namespace, settings.topics
    pipe = a_pipe()
    tier = topics.retry(RETRY_TIERS_MS[0])
    retries = [make_event(pipe) for _ in range(6)]
    held = [make_event(pipe) for _ in range(5)]
    tier_tp = await publish_on(producer, tier, retries, b"one-partition")
    held_tp = await publish_on(producer, topics.held, held, pipe.connection["id"].encode())
    # The old groups had handed back the first 4 retries and the first 2 held events.
    await commit_outside(bootstrap, f"{ns}-deliverer-tier-{RETRY_TIERS_MS[0]}", {tier_tp: 4})
    await commit_outside(bootstrap, f"{ns}-deliverer-held", {held_tp: 2})

    deliverer = await start_deliverer(settings)
    try:
        [waiting] = [c for c in deliverer.app[CONSUMERS] if isinstance(c, WaitingConsumer)]
        assert waiting.group == f"{ns}-deliverer-waiting"

        async def read_to_the_end() -> bool:
            await waiting.commit()
            return (
                await committed_total(bootstrap, waiting.group, tier) == 6
                and await committed_total(bootstrap, waiting.group, topics.held) == 5
            )

        await eventually(read_to_the_end, 30, "the new group past every waiting record", 0.2)
    finally:
        await deliverer.runner.cleanup()

    handed_back = [event["event_id"] for event in await read_topic(bootstrap, topics.events)]
    assert sorted(handed_back) == sorted(e["event_id"] for e in retries[4:] + held[2:])
    # Restarted, the group keeps its own commits: nothing is seeded over them.
    seeded = await seed_group_offsets(
        bootstrap, f"{ns}-deliverer-waiting", [tier, topics.held], waiting.seed_from
    )
    assert seeded == {}
