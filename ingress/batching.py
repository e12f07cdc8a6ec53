"""Many requests' records in one produce batch, each request still waiting for its own ack.

aiokafka's `send` per record (accumulator lookup, partitioner, a future and a batch append with
their checks, then `send_and_wait`'s await chain) was a tenth of the ingress's CPU per
keep-alive request. Here a request appends its record to a list and waits on a plain future;
one flusher task writes the list into a `BatchBuilder` and hands it over with `send_batch`,
and the batch's ack settles every future in it. A record's answer still goes out only after
the broker acknowledged it (the batch carries it), with the producer's idempotence and acks
unchanged; the batch goes to one partition, as the ingress's sticky partitioner already put
a window's records (runtime.kafka.StickyPartitioner).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.producer.message_accumulator import BatchBuilder

log = logging.getLogger(__name__)

Partitioner = Callable[[bytes | None, list[int], list[int]], int]
Pending = list[tuple[bytes, bytes, "asyncio.Future[None]"]]


class RecordBatcher:
    """`send_and_wait(key, value)` for one topic, sent in batches of whatever is waiting."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitioner: Partitioner) -> None:
        self._producer = producer
        self._topic = topic
        self._partitioner = partitioner
        self._pending: Pending = []
        self._flusher: asyncio.Task[None] | None = None

    async def send_and_wait(self, key: bytes, value: bytes) -> None:
        """Return once the broker acknowledged the record; raise what the producer raised."""
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((key, value, acked))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await acked

    async def _flush(self) -> None:
        # Whatever arrives while a batch is handed over (send_batch waits for the partition's
        # previous batch to leave) goes in the next one.
        try:
            while self._pending:
                pending, self._pending = self._pending, []
                try:
                    await self._send(pending)
                except Exception as exc:  # every waiter gets it, as send would raise it
                    settle(pending, exc)
        finally:
            self._flusher = None

    async def _send(self, pending: Pending) -> None:
        producer = self._producer
        partitions = sorted(await producer.partitions_for(self._topic))
        partition = self._partitioner(None, partitions, partitions)
        batch = producer.create_batch()
        start = 0
        for index, (key, value, _) in enumerate(pending):
            if batch.append(key=key, value=value, timestamp=None) is None:
                # Full (the first record always fits, however large): send what it holds.
                await self._submit(batch, partition, pending[start:index])
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
                start = index
        await self._submit(batch, partition, pending[start:])

    async def _submit(self, batch: BatchBuilder, partition: int, records: Pending) -> None:
        batch.close()  # nothing else appends to it (send would, to an open one)
        try:
            ack = await self._producer.send_batch(batch, self._topic, partition=partition)
        except Exception as exc:  # these records' waiters get it
            settle(records, exc)
            return
        ack.add_done_callback(lambda done: settle(records, done_error(done)))


def done_error(done: asyncio.Future[object]) -> BaseException | None:
    if done.cancelled():  # the producer gave the batch up: not stored, as any failure
        cancelled: BaseException = KafkaError("the batch was cancelled before its ack")
        return cancelled
    error: BaseException | None = done.exception()
    return error


def settle(records: Pending, error: BaseException | None) -> None:
    """Wake every waiter of `records` (those not gone: a waiter past its deadline is)."""
    for _, _, acked in records:
        if acked.done():
            continue
        if error is None:
            acked.set_result(None)
        else:
            acked.set_exception(error)
