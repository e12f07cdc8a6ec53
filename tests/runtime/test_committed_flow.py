"""On the embedded broker: a read_committed reader past an aborted transaction still reads its
producer's later records, and never the aborted ones (runtime.committed). Before, a reader
that fetched from past the ABORT marker lost every later record of that producer — a bulk job
taken over by another replica, or the issues job after a restart, went unread."""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ProducerFenced

from runtime.kafka import make_producer
from tests.support.poll import eventually


async def _topic(bootstrap: str) -> str:
    name = f"committed-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    return name


async def _reader(bootstrap: str, topic: str, offset: int) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek(TopicPartition(topic, 0), offset)
    return consumer


async def _read_until(consumer: AIOKafkaConsumer, seen: list[bytes], last: bytes) -> list[bytes]:
    async def arrived() -> bool:
        for messages in (await consumer.getmany(timeout_ms=100)).values():
            seen.extend(m.value for m in messages)
        return last in seen

    await eventually(arrived, 10, f"{last!r} read")
    return seen


async def test_records_after_an_abort_are_read_from_any_offset(bootstrap: str) -> None:
    topic = await _topic(bootstrap)
    producer = make_producer(bootstrap, transactional_id=f"{topic}-x")
    await producer.start()
    early = await _reader(bootstrap, topic, 0)  # reading since before the abort
    try:
        await producer.begin_transaction()
        await (await producer.send(topic, b"aborted"))
        await producer.abort_transaction()
        async with producer.transaction():
            after = await (await producer.send(topic, b"after"))
        async with producer.transaction():
            await (await producer.send(topic, b"later"))
        late = await _reader(bootstrap, topic, after.offset)  # resuming past the marker
        try:
            assert await _read_until(late, [], b"later") == [b"after", b"later"]
        finally:
            await late.stop()
        assert await _read_until(early, [], b"later") == [b"after", b"later"]
    finally:
        await early.stop()
        await producer.stop()


async def test_a_producer_fenced_mid_transaction_leaves_its_successor_readable(
    bootstrap: str,
) -> None:
    """What a bulk job's takeover does: the new holder starts a producer with the job's
    transactional id while the old one is inside a page's transaction."""
    topic = await _topic(bootstrap)
    old = make_producer(bootstrap, transactional_id=f"{topic}-job")
    new = make_producer(bootstrap, transactional_id=f"{topic}-job")
    await old.start()
    reader = await _reader(bootstrap, topic, 0)
    try:
        async with old.transaction():
            await (await old.send(topic, b"page 1"))
        seen = await _read_until(reader, [], b"page 1")
        try:
            async with old.transaction():
                await (await old.send(topic, b"page 2, open"))
                await new.start()  # fences the old producer, aborting its open page
                await (await old.send(topic, b"page 2, fenced"))
        except ProducerFenced:
            pass
        async with new.transaction():
            await (await new.send(topic, b"cancelled"))
        assert await _read_until(reader, seen, b"cancelled") == [b"page 1", b"cancelled"]
    finally:
        await reader.stop()
        for producer in (old, new):
            try:
                await producer.stop()
            except ProducerFenced:
                pass
