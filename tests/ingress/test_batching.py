"""The record batcher as the ingress uses it (runtime.batching: one sticky partition per batch,
each batch after the previous ack, a produce deadline) against the embedded broker: each waiter
returns only once its own record is stored, records keep the order they were handed over in,
and a failure or the deadline reaches every waiter rather than hanging one."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ingress.app import BATCH_INTERVAL_S, LINGER_S
from runtime.batching import RecordBatcher
from runtime.kafka import StickyPartitioner, make_producer
from tests.support.kafka import read_topic

# Over aiokafka's default batch size (16 KiB): such a record fills a batch of its own.
LARGE = 200 * 1024
DEADLINE_S = 30.0


def ingress_batcher(producer: AIOKafkaProducer, topic: str, deadline_s: float) -> RecordBatcher:
    """Made as the ingress makes its own (ingress.app)."""
    return RecordBatcher(
        producer,
        topic,
        linger_s=LINGER_S,
        partitioner=StickyPartitioner(),
        per_key=False,
        interval_s=BATCH_INTERVAL_S,
        after_ack=True,
        deadline_s=deadline_s,
    )


async def test_each_waiter_returns_once_its_record_is_stored_in_order(
    producer, bootstrap, topics
) -> None:
    batcher = ingress_batcher(producer, topics.requests, DEADLINE_S)
    sent = [
        (f"req_{n:04d}".encode(), secrets.token_bytes(LARGE if n % 97 == 5 else 300))
        for n in range(400)
    ]
    # All handed over at once, as concurrent requests do: most wait behind a batch in flight.
    await asyncio.gather(*(batcher.send_and_wait(value, key=key) for key, value in sent))

    stored = await read_topic(bootstrap, topics.requests, expect=len(sent), raw=True, timeout_s=30)
    assert sorted((m.key, m.value) for m in stored) == sorted(sent)  # exact bytes, once each
    position = {key: n for n, (key, _) in enumerate(sent)}
    for partition in {m.partition for m in stored}:
        offsets = sorted((m.offset, position[m.key]) for m in stored if m.partition == partition)
        handed_over = [n for _, n in offsets]
        assert handed_over == sorted(handed_over), f"partition {partition} reordered"


async def test_a_waiter_gone_past_its_deadline_leaves_the_others_acknowledged(
    producer, bootstrap, topics
) -> None:
    batcher = ingress_batcher(producer, topics.requests, DEADLINE_S)
    impatient = asyncio.ensure_future(batcher.send_and_wait(b"given up", key=b"gone"))
    others = [batcher.send_and_wait(f"v{n}".encode(), key=f"k{n}".encode()) for n in range(20)]
    impatient.cancel()  # what the handler's produce deadline does to its own wait
    await asyncio.gather(*others)

    with pytest.raises(asyncio.CancelledError):
        await impatient
    stored = await read_topic(bootstrap, topics.requests, expect=20, raw=True, timeout_s=30)
    assert {(m.key, m.value) for m in stored} >= {
        (f"k{n}".encode(), f"v{n}".encode()) for n in range(20)
    }


async def test_a_stopped_producer_fails_every_waiter(bootstrap, topics) -> None:
    stopped = make_producer(bootstrap)
    await stopped.start()
    await stopped.stop()
    batcher = ingress_batcher(stopped, topics.requests, DEADLINE_S)

    outcomes = await asyncio.gather(
        *(batcher.send_and_wait(b"v", key=f"k{n}".encode()) for n in range(5)),
        return_exceptions=True,
    )

    assert all(isinstance(outcome, KafkaError) for outcome in outcomes), outcomes
    # The batcher is not stuck after a failure: the next waiter gets an answer too.
    with pytest.raises(KafkaError):
        await asyncio.wait_for(batcher.send_and_wait(b"v", key=b"later"), timeout=30)


async def test_waiters_past_the_deadline_get_a_timeout(producer, topics) -> None:
    # No ack can come before the next turn of the loop, where a deadline of 0 has passed.
    batcher = ingress_batcher(producer, topics.requests, 0.0)

    outcomes = await asyncio.gather(
        *(batcher.send_and_wait(b"v", key=f"k{n}".encode()) for n in range(5)),
        return_exceptions=True,
    )

    assert all(isinstance(outcome, TimeoutError) for outcome in outcomes), outcomes
