"""Records of one topic produced as one record batch per partition per window, each caller
told when its own record is stored.

`producer.send_and_wait` per record costs each record aiokafka's whole `send` path (a metadata
wait, serializing, partitioning, the accumulator's coroutine and a future of its own) and,
at a few thousand deliveries a second, was ~6% of the deliverer's CPU. Here a record is
appended to its partition's open batch at once (no await); when the window closes (or a batch
is full) every open batch is closed and handed to the producer, which sends a closed batch
without lingering. Every caller of a window awaits its partition's one future.

What the callers rely on, as with `send_and_wait`:
- `send_and_wait` returns only once the record is acknowledged (so an offset finished after it
  is committed only after its record is stored), and raises if it was not stored — the
  caller produces it again.
- Records of one partition are stored in the order they were given: windows are handed to the
  producer one after the other, each after the last was queued, and the producer sends one
  request per broker at a time.

It reads three of aiokafka's internals (the producer's metadata, its partitioner and the
metadata wait `send` itself does): aiokafka is pinned below its next minor for such uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from runtime.partitioning import KeyPartitioner

log = logging.getLogger(__name__)

Partitioner = Callable[[bytes | None, list[int], list[int]], int]


class _Window:
    """The open batches of one window by partition, each with the futures of its callers."""

    __slots__ = ("available", "batches", "partitions", "timer")

    def __init__(self, partitions: list[int], available: list[int]) -> None:
        self.batches: dict[int, tuple[Any, list[asyncio.Future[None]]]] = {}
        self.timer: asyncio.TimerHandle | None = None
        # The topic's partitions as the producer knows them when the window opens.
        self.partitions = partitions
        self.available = available


class BatchingProducer:
    """`send_and_wait` for one topic's keyed records, gathered for `window_s` (see the module's
    docstring). Made in the running loop; the producer must be started, and is not stopped
    here."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        window_s: float,
        partitioner: Partitioner | None = None,
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.window_s = window_s
        # The producer's own (keyed records go where its `send` would put them), else Kafka's.
        if partitioner is None:
            partitioner = getattr(producer, "_partitioner", None) or KeyPartitioner()
        self.partitioner: Partitioner = partitioner
        self._window: _Window | None = None
        self._known = False
        self._loop = asyncio.get_running_loop()  # made where it is used
        # The window handed to the producer last: the next waits for it, so that a partition's
        # batches are queued in window order.
        self._queued: asyncio.Task[None] | None = None

    async def send_and_wait(self, value: bytes, key: bytes) -> None:
        if not self._known:
            await self.producer.client._wait_on_metadata(self.topic)
            self._known = True
        # No await from here to the append: the window found is the one the record joins.
        window = self._window or self._open()
        partition = self.partitioner(key, window.partitions, window.available)
        open_batch = window.batches.get(partition)
        if open_batch is None:
            open_batch = window.batches[partition] = (self.producer.create_batch(), [])
        if open_batch[0].append(key=key, value=value, timestamp=None) is None:
            # Its partition's batch is full: this window goes now, the record opens the next.
            self._seal()
            await self.send_and_wait(value, key)
            return
        # A future per caller, not the window's own: a caller cancelled (a stop) must not
        # cancel the others' wait.
        stored: asyncio.Future[None] = self._loop.create_future()
        open_batch[1].append(stored)
        await stored

    def _open(self) -> _Window:
        metadata = self.producer._metadata
        window = self._window = _Window(
            list(metadata.partitions_for_topic(self.topic)),
            list(metadata.available_partitions_for_topic(self.topic)),
        )
        window.timer = self._loop.call_later(self.window_s, self._seal)
        return window

    def _seal(self) -> None:
        window, self._window = self._window, None
        if window is None:
            return
        if window.timer is not None:
            window.timer.cancel()
        for builder, _ in window.batches.values():
            builder.close()
        self._queued = asyncio.create_task(self._queue(window, self._queued))

    async def _queue(self, window: _Window, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.wait([before])
        for partition, (builder, stored) in window.batches.items():
            try:
                acked = await self.producer.send_batch(builder, self.topic, partition=partition)
            except Exception as exc:  # not queued (the producer closed, a timeout): not stored
                log.warning("record batch not queued", exc_info=True, extra={"topic": self.topic})
                settle(stored, exc)
                continue
            acked.add_done_callback(lambda done, waiting=stored: settle_from(waiting, done))

    async def flush(self) -> None:
        """Hand the open window to the producer now and wait until it is queued."""
        self._seal()
        if self._queued is not None:
            await asyncio.wait([self._queued])


def settle(waiting: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    """Wake the callers still waiting (the ingress's batcher, ingress.batching, too)."""
    for stored in waiting:
        if stored.done():  # its caller was cancelled
            continue
        if exc is None:
            stored.set_result(None)
        else:
            stored.set_exception(exc)


def settle_from(waiting: list[asyncio.Future[None]], acked: asyncio.Future[Any]) -> None:
    """Wake the callers of a batch by its outcome."""
    if acked.cancelled():
        # Not stored: told as the broker's absence (the caller produces it again), never as
        # a cancellation, which would end the caller's task with its record unfinished.
        settle(waiting, KafkaError("record batch cancelled before it was stored"))
    else:
        settle(waiting, acked.exception())
