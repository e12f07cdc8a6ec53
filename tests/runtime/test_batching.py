"""The record batcher as the deliverer uses it (runtime.batching: a partition per key, a
window of linger, no ack wait) against the real broker: each caller returns once its record
is stored, a partition's records are stored in the order they were given (across windows and
full batches), and a record not stored raises to its caller."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka.errors import KafkaError

from runtime.batching import RecordBatcher
from runtime.kafka import make_producer
from tests.support.kafka import read_topic

KEYS = [f"evt_{i}".encode() for i in range(7)]


async def stored_in_order(bootstrap: str, topic: str, expect: int) -> dict[int, list[int]]:
    """The sequence numbers (the values) stored in each partition, in offset order."""
    records = await read_topic(bootstrap, topic, expect=expect, raw=True, timeout_s=30)
    by_partition: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append((record.offset, int(record.value)))
    return {p: [seq for _, seq in sorted(rows)] for p, rows in by_partition.items()}


async def test_records_stored_in_the_order_given_across_windows(bootstrap, topics, producer):
    batching = RecordBatcher(producer, topics.attempts, linger_s=0.005)
    total = 600
    tasks = []
    for seq in range(total):
        # Given in order, some together in a window, some in later windows.
        tasks.append(asyncio.create_task(batching.send_and_wait(b"%d" % seq, KEYS[seq % 7])))
        if seq % 50 == 49:
            await asyncio.sleep(0.007)
    await asyncio.gather(*tasks)

    stored = await stored_in_order(bootstrap, topics.attempts, total)
    assert sum(len(seqs) for seqs in stored.values()) == total
    assert len(stored) > 1, "the keys spread over partitions"
    for partition, seqs in stored.items():
        assert seqs == sorted(seqs), f"partition {partition} out of order"


async def test_a_caller_returns_once_its_window_is_stored(bootstrap, topics, producer):
    batching = RecordBatcher(producer, topics.attempts, linger_s=0.3)
    loop = asyncio.get_running_loop()
    await batching.send_and_wait(b"0", KEYS[0])  # the topic's metadata, once
    started = loop.time()
    waiting = asyncio.create_task(batching.send_and_wait(b"1", KEYS[0]))
    await asyncio.sleep(0.1)
    assert not waiting.done(), "returned before its window was even sent"
    await waiting
    assert loop.time() - started >= 0.3
    stored = await stored_in_order(bootstrap, topics.attempts, 2)
    assert sorted(seq for seqs in stored.values() for seq in seqs) == [0, 1]


async def test_a_full_batch_goes_at_once_and_order_holds(bootstrap, topics):
    small = make_producer(bootstrap, max_batch_size=16 * 1024)
    await small.start()
    try:
        batching = RecordBatcher(small, topics.attempts, linger_s=0.05)
        value = b"x" * 3000
        total = 40  # ~120 KiB on one key: several batches of one partition in one window
        await asyncio.gather(
            *(batching.send_and_wait(b"%d:" % seq + value, KEYS[0]) for seq in range(total))
        )
    finally:
        await small.stop()
    records = await read_topic(bootstrap, topics.attempts, expect=total, raw=True)
    assert len({r.partition for r in records}) == 1
    seqs = [int(r.value.split(b":")[0]) for r in sorted(records, key=lambda r: r.offset)]
    assert seqs == list(range(total))


async def test_a_record_not_stored_raises_to_its_caller(bootstrap, topics):
    closing = make_producer(bootstrap)
    await closing.start()
    batching = RecordBatcher(closing, topics.attempts, linger_s=0.2)
    await batching.send_and_wait(b"0", KEYS[0])
    waiting = asyncio.create_task(batching.send_and_wait(b"1", KEYS[1]))
    await asyncio.sleep(0.02)
    await closing.stop()  # its window is handed over after the producer closed
    with pytest.raises(KafkaError):
        await waiting
