"""Consumers rest when idle (runtime.resting): the hold rule, and a real consumer on the
embedded broker that costs next to nothing idle yet reads what arrives, in order."""

from __future__ import annotations

import asyncio
import io
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest, FetchResponse_v11
from hypothesis import given
from hypothesis import strategies as st

from runtime.kafka import (
    CONFIG_HOLD_MAX_S,
    ConfigFollower,
    assign_from_beginning,
    make_group_consumer,
)
from runtime.resting import (
    FETCHER_LOOK_ROUND_S,
    GATHER_TARGET_RECORDS,
    HOLD_MAX_S,
    HOLD_SHARE,
    SAME_ANSWER_MAX_BYTES,
    RestingFetcher,
    SameAnswer,
    asked_once,
    gather_wait,
    idle_hold,
)
from tests.support.resting import rest_long

seconds = st.floats(min_value=0, max_value=3600, allow_nan=False)


@given(
    silence=seconds,
    answered_in=seconds,
    max_wait=seconds,
    ceiling=st.sampled_from([HOLD_MAX_S, 1.0]),
)
def test_a_hold_is_bounded_by_the_silence_the_ceiling_and_the_brokers_own_wait(
    silence, answered_in, max_wait, ceiling
):
    hold = idle_hold(silence, answered_in, max_wait, ceiling)
    assert 0 <= hold <= ceiling
    assert hold <= HOLD_SHARE * silence + 1e-12  # a short gap in a stream adds next to nothing
    if hold > 0:
        # Never past what a broker holding the fetch itself would have waited.
        assert answered_in + hold <= max_wait + 1e-9


@given(silence=seconds, longer=seconds, answered_in=seconds, max_wait=seconds)
def test_a_longer_silence_never_holds_less(silence, longer, answered_in, max_wait):
    assert idle_hold(silence + longer, answered_in, max_wait) >= idle_hold(
        silence, answered_in, max_wait
    )


def test_a_broker_that_held_the_fetch_itself_is_not_held_again():
    assert idle_hold(60.0, answered_in_s=0.5, max_wait_s=0.5) == 0
    assert idle_hold(60.0, answered_in_s=HOLD_MAX_S, max_wait_s=1.5) == 0
    assert idle_hold(60.0, answered_in_s=0.0, max_wait_s=1.5) == HOLD_MAX_S


async def test_every_consumer_rests_and_an_idle_one_costs_a_sliver_of_a_core(
    settings, topics, producer
):
    consumer = make_group_consumer(settings, f"{topics.namespace}-resting")
    await consumer.start()
    try:
        assert isinstance(consumer._fetcher, RestingFetcher)
        consumer.subscribe([topics.events])
        await consumer.getmany(timeout_ms=3000)  # joined and assigned, nothing there
        # Against the embedded broker, which answers empty fetches at once, an idle consumer
        # that does not rest takes most of a core; the bound is a bug guard, not a figure.
        cpu, wall = time.process_time(), time.monotonic()
        while time.monotonic() - wall < 3.0:
            assert await consumer.getmany(timeout_ms=200) == {}
        share = (time.process_time() - cpu) / (time.monotonic() - wall)
        assert share < 0.2, f"an idle consumer used {share:.0%} of a core"

        # After the quiet spell, what arrives is read, all of it and in order.
        values = [str(n).encode() for n in range(50)]
        for value in values:
            await producer.send(topics.events, value, partition=0)
        await producer.flush()
        read: list[bytes] = []
        deadline = time.monotonic() + 20
        while len(read) < len(values) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            read += [m.value for m in batches.get(TopicPartition(topics.events, 0), [])]
        assert read == values
    finally:
        await consumer.stop()


async def test_a_plain_consumer_rests_too_and_stops_cleanly_while_holding(bootstrap, topics):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    assert isinstance(consumer._fetcher, RestingFetcher)
    await assign_from_beginning(consumer, topics.config)
    # Long enough for the fetcher to be holding after empty answers; stop must not hang or
    # raise out of the held fetch.
    assert await consumer.getmany(timeout_ms=1000) == {}
    await asyncio.wait_for(consumer.stop(), 10)


async def test_a_consumer_of_records_that_wait_anyway_may_rest_longer(settings, topics):
    consumer = make_group_consumer(settings, f"{topics.namespace}-waiting", idle_hold_max_s=1.0)
    await consumer.start()
    try:
        assert consumer._fetcher.hold_max_s == 1.0
        assert consumer._fetcher._fetch_max_wait_ms >= 1000  # else the hold would be cut short
    finally:
        await consumer.stop()
    default = make_group_consumer(settings, f"{topics.namespace}-default")
    await default.start()
    try:
        assert default._fetcher.hold_max_s == HOLD_MAX_S
    finally:
        await default.stop()


async def batches_of_a_steady_stream(settings, topics, producer, gather_ms: float) -> list[int]:
    """Sizes of the batches a consumer gets of 60 records sent 2 ms apart."""
    consumer = make_group_consumer(
        settings.with_(fetch_gather_ms=gather_ms), f"{topics.namespace}-gather-{gather_ms:g}"
    )
    await consumer.start()
    try:
        consumer.subscribe([topics.requests])
        await consumer.getmany(timeout_ms=3000)  # joined and assigned
        start = (await consumer.end_offsets([TopicPartition(topics.requests, 0)])).popitem()[1]
        consumer.seek(TopicPartition(topics.requests, 0), start)

        async def send() -> None:
            for n in range(60):
                await producer.send_and_wait(topics.requests, str(n).encode(), partition=0)
                await asyncio.sleep(0.002)

        sending = asyncio.create_task(send())
        sizes: list[int] = []
        deadline = time.monotonic() + 30
        while sum(sizes) < 60 and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=200)
            sizes += [len(messages) for messages in got.values()]
        await sending
        assert sum(sizes) == 60
        return sizes
    finally:
        await consumer.stop()


async def test_a_steady_stream_is_gathered_into_fewer_fetches(settings, topics, producer):
    # The gather waits after a fetch that brought records: what arrives meanwhile comes in the
    # next fetch together (the count, not a time, is what is asserted). A gather of 200 ms,
    # not the default 20: on a loaded machine the sender itself may take a second for the 60,
    # which would leave one record per 20 ms fetch and prove nothing about the gather.
    gathered = await batches_of_a_steady_stream(settings, topics, producer, 200.0)
    assert len(gathered) < 60 / 3, gathered
    assert max(gathered) > 1


@given(
    waiting=st.integers(min_value=-10, max_value=10_000),
    more=st.integers(min_value=0, max_value=10_000),
    gather_max=st.floats(min_value=0, max_value=1, allow_nan=False),
)
def test_a_gather_is_bounded_and_shorter_the_more_records_wait(waiting, more, gather_max):
    wait = gather_wait(waiting, gather_max)
    assert 0 <= wait <= gather_max
    assert gather_wait(waiting + more, gather_max) <= wait  # more waiting never waits longer


def test_a_backlog_is_fetched_at_once_and_a_single_record_waits_the_whole_gather():
    assert gather_wait(GATHER_TARGET_RECORDS, 0.02) == 0
    assert gather_wait(100_000, 0.02) == 0
    assert gather_wait(0, 0.02) == 0.02
    assert 0 < gather_wait(1, 0.02) < 0.02


async def test_a_backlog_counts_as_waiting_so_the_next_fetch_is_not_held(
    settings, topics, producer
):
    # What the gather looks at after a fetch: records fetched and not read yet (or still on the
    # broker). A backlog is all of them, so the gather (a minute here) is not waited.
    for n in range(300):
        await producer.send(topics.requests, str(n).encode(), partition=0)
    await producer.flush()
    consumer = make_group_consumer(
        settings.with_(fetch_gather_ms=60_000), f"{topics.namespace}-backlog"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topics.requests, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        first = await consumer.getmany(tp, timeout_ms=20_000, max_records=10)
        assert len(first[tp]) == 10
        fetcher = consumer._fetcher
        waiting = fetcher._waiting(fetcher._subscriptions.subscription.assignment)
        assert waiting == 290
        assert gather_wait(waiting, fetcher.gather_s) == 0
        assert fetcher.gather_s == 60
        rest = await consumer.getmany(tp, timeout_ms=20_000)
        assert [m.value for m in first[tp] + rest[tp]] == [str(n).encode() for n in range(300)]
    finally:
        await consumer.stop()


async def test_records_reach_a_waiting_reader_before_the_gather_after_their_fetch(
    settings, topics, producer
):
    # The gather holds the next fetch, never the records this one brought: with a gather of a
    # minute, a reader already waiting gets the record within its 30 s (aiokafka alone wakes it
    # only once the fetch's task, gather included, has ended).
    consumer = make_group_consumer(
        settings.with_(fetch_gather_ms=60_000), f"{topics.namespace}-gathered-reader"
    )
    await consumer.start()
    try:
        tp = TopicPartition(topics.requests, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.position(tp)
        reading = asyncio.create_task(consumer.getmany(tp, timeout_ms=30_000))
        await producer.send_and_wait(topics.requests, b"one", partition=0)
        first = await reading
        assert [m.value for m in first.get(tp, [])] == [b"one"]
        fetcher = consumer._fetcher
        assert fetcher.gather_s == 60
        assert fetcher._pending_tasks, "the fetch that brought it is still gathering"
    finally:
        await consumer.stop()


async def test_a_woken_fetcher_ends_its_rest_at_once(bootstrap, topics, producer):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await assign_from_beginning(consumer, topics.events, only=[0])
        await rest_long(consumer._fetcher)
        await producer.send_and_wait(topics.events, b"now", partition=0)
        consumer._fetcher.wake()
        # Without the wake the record waits out the 30 s hold.
        started = time.monotonic()
        batches = await consumer.getmany(timeout_ms=15_000)
        assert [m.value for ms in batches.values() for m in ms] == [b"now"]
        assert time.monotonic() - started < 15
    finally:
        await consumer.stop()


async def test_a_config_reader_waiting_wakes_its_resting_follower(settings, topics, producer):
    applied: list[str] = []
    follower = ConfigFollower(
        settings.kafka_bootstrap, topics.config, lambda k, r: applied.append(k)
    )
    await follower.start()
    try:
        await follower.wait_caught_up(20)
        assert isinstance(follower._consumer._fetcher, RestingFetcher)
        assert follower._consumer._fetcher.hold_max_s == CONFIG_HOLD_MAX_S
        await rest_long(follower._consumer._fetcher)
        await producer.send_and_wait(topics.config, None, key=b"ent_1")  # a tombstone
        # sync() returns once the view holds it: within its 15 s only if it woke the follower.
        await follower.sync(timeout_s=15)
        assert follower.applied == 1
    finally:
        await follower.stop()


def values(batches: dict) -> list[bytes]:
    return [m.value for messages in batches.values() for m in messages]


async def test_a_fetch_routine_that_seldom_looks_round_follows_seeks_and_resumes_at_once(
    bootstrap, topics, producer
):
    """The routine's look-round timeout is only a safety net: what can start a fetch wakes it."""
    await producer.send_and_wait(topics.events, b"one", partition=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assert consumer._fetcher._fetcher_timeout >= FETCHER_LOOK_ROUND_S
        consumer._fetcher._fetcher_timeout = 60.0  # here nothing but a wake-up may start a fetch
        [tp] = await assign_from_beginning(consumer, topics.events, only=[0])
        assert values(await consumer.getmany(timeout_ms=15_000)) == [b"one"]
        assert await consumer.getmany(timeout_ms=300) == {}  # idle: its fetches rest
        consumer.seek(tp, 0)
        started = time.monotonic()
        assert values(await consumer.getmany(timeout_ms=15_000)) == [b"one"]
        consumer.pause(tp)
        await producer.send_and_wait(topics.events, b"two", partition=0)
        assert await consumer.getmany(timeout_ms=300) == {}
        consumer.resume(tp)
        assert values(await consumer.getmany(timeout_ms=15_000)) == [b"two"]
        # Both within the 15 s each was given, far below the routine's 60 s look-round.
        assert time.monotonic() - started < 40
    finally:
        await consumer.stop()


def test_a_request_asked_once_sends_the_bytes_it_would_have_encoded():
    topics = [("fasthook.events", [(0, 17, 1 << 20), (3, 5, 1 << 20)])]
    versions = {FetchRequest.API_KEY: (0, 11)}
    once = asked_once(FetchRequest(500, 1, 50 << 20, 1, topics))
    fresh = FetchRequest(500, 1, 50 << 20, 1, topics).prepare(versions)
    first = once.prepare(versions)
    assert first.encode() == fresh.encode()
    assert once.prepare(versions) is first  # prepared and encoded once
    older = {FetchRequest.API_KEY: (0, 4)}  # another broker's versions: its own bytes
    assert (
        once.prepare(older).encode()
        == FetchRequest(500, 1, 50 << 20, 1, topics).prepare(older).encode()
    )


async def test_an_idle_consumer_asks_the_same_request_again_and_a_moved_one_afresh(
    bootstrap, topics, producer
):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await assign_from_beginning(consumer, topics.events)  # aiokafka shuffles them per fetch
        fetcher = consumer._fetcher
        assert await consumer.getmany(timeout_ms=500) == {}
        [(asked, request)] = fetcher._asked.values()
        assert await consumer.getmany(timeout_ms=500) == {}  # more idle fetches meanwhile
        assert fetcher._asked[next(iter(fetcher._asked))][1] is request
        # As a connection prepared it (kept): its answers were compared with the last.
        prepared = [request.prepare(c._versions) for c in consumer._client._conns.values()]
        assert all(isinstance(p.RESPONSE_TYPE, SameAnswer) for p in prepared)
        assert any(p.RESPONSE_TYPE._last for p in prepared)

        for value in (b"one", b"two"):
            await producer.send_and_wait(topics.events, value, partition=0)
            batches = await consumer.getmany(timeout_ms=15_000)
            assert values(batches) == [value]  # read from where the last one ended
        [(moved, _)] = fetcher._asked.values()
        assert moved != asked  # its offset moved: a new request
    finally:
        await consumer.stop()


def test_the_same_answer_is_decoded_once_and_another_afresh():
    def answer(highwater: int, records: bytes = b"") -> bytes:
        partition = (0, 0, highwater, highwater, 0, [], -1, records)
        return FetchResponse_v11(0, 0, 0, [("fasthook.events", [partition])]).encode()

    same = SameAnswer(FetchResponse_v11)
    first = same.decode(io.BytesIO(answer(7)))
    assert first.topics == FetchResponse_v11.decode(answer(7)).topics
    assert same.decode(io.BytesIO(answer(7))) is first
    moved = same.decode(io.BytesIO(answer(8)))
    assert moved is not first and moved.topics[0][1][0][2] == 8
    big = answer(8, b"x" * (SAME_ANSWER_MAX_BYTES + 1))  # not kept: compared with nothing
    assert same.decode(io.BytesIO(big)) is not same.decode(io.BytesIO(big))
