"""Many callers' records of one topic in few record batches, each caller told when its own
record is stored: the ingress's requests and the deliverer's attempt records.

aiokafka's `send` per record (a metadata wait, serializing, the partitioner, the accumulator's
lookup, a future of its own and `send_and_wait`'s await chain) was a tenth of the ingress's CPU
per keep-alive request and ~6% of the deliverer's. Here a caller appends its record to the
current window and waits on a plain future; one flusher task writes everything waiting into
`BatchBuilder`s (one per partition) and hands them over with `send_batch`, and a batch's ack
settles every future in it. The producer's idempotence and acks are unchanged.

When batches are made (the options say, per use):
- a batch gathers `linger_s` from its first record, as the producer's own linger would (the
  producer then lingers 0: a batch made here cannot grow); a window over the producer's batch
  size goes at once;
- at most every `interval_s` (at moderate rates a produce request then carries several records);
- with `after_ack`, only once the previous batches are acknowledged: the producer sends one
  request at a time to a broker, so a batch closed earlier would leave with the next request
  carrying a record or two, and the records after it in yet another.

A record's partition is its key's (`per_key`, where its `send` would put it: the partitioner
defaults to the producer's own), or one for the whole batch from a sticky partitioner (keys
that say nothing about order, runtime.kafka.StickyPartitioner).

What the callers rely on, as with `send_and_wait`:
- `send_and_wait` returns only once the record is acknowledged (an offset finished after it is
  committed only after its record is stored, an ingress answers 200 only then), and raises if
  it was not stored: the caller produces it again, or answers 503.
- Records of one partition are stored in the order they were given: one flusher hands batches
  over one after the other, and the producer sends one request per broker at a time.
- A caller cancelled (a stop, its own deadline) does not cancel the others' wait: each has a
  future of its own.
- With `deadline_s`, a record not acknowledged in time raises TimeoutError. The deadline is one
  timer per window of WINDOW_S, not per record: it runs from the window's first record, so a
  later record's is shorter by at most WINDOW_S. A record past its deadline may still be
  stored later, as with aiokafka's own `send` under a timeout.

It reads two of aiokafka's internals (the producer's metadata and its batch size): aiokafka is
pinned below its next minor for such uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.producer.message_accumulator import BatchBuilder

from runtime.partitioning import KeyPartitioner

log = logging.getLogger(__name__)

Partitioner = Callable[[bytes | None, list[int], list[int]], int]
Waiting = list["asyncio.Future[None]"]

# With a deadline, how long a window takes records: the most a record's deadline is cut short.
WINDOW_S = 0.01


class Window:
    """Records given together, and (with a deadline) their one expiry."""

    __slots__ = ("expiry", "opened", "pending", "records", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline_s: float | None) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.waiting: Waiting = []  # a future per record, its caller's
        self.opened = loop.time()
        self.expiry = (
            None if deadline_s is None else loop.call_later(deadline_s, self.expire, deadline_s)
        )
        self.pending = 0  # the batches holding its records not yet answered

    def expire(self, deadline_s: float) -> None:
        settle(self.waiting, TimeoutError(f"no ack within {deadline_s:g}s"))

    def answered(self) -> None:
        """One of its batches answered: once all are, its deadline is over."""
        self.pending -= 1
        if self.pending <= 0 and self.expiry is not None:
            self.expiry.cancel()


class Batch:
    """One partition's batch being made: its callers, and the windows it is the last for."""

    __slots__ = ("builder", "finished", "waiting")

    def __init__(self, builder: BatchBuilder) -> None:
        self.builder = builder
        self.waiting: Waiting = []
        self.finished: list[Window] = []


class RecordBatcher:
    """`send_and_wait(value, key=…)` for one topic (see the module's docstring). Made in the
    running loop; the producer must be started, and is not stopped here."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        *,
        linger_s: float,
        partitioner: Partitioner | None = None,
        per_key: bool = True,
        interval_s: float = 0.0,
        after_ack: bool = False,
        deadline_s: float | None = None,
    ) -> None:
        self.producer = producer
        self.topic = topic
        if partitioner is None:
            partitioner = getattr(producer, "_partitioner", None) or KeyPartitioner()
        self.partitioner: Partitioner = partitioner
        self.per_key = per_key
        self.linger_s = linger_s
        self.interval_s = interval_s
        self.after_ack = after_ack
        self.deadline_s = deadline_s
        self._loop = asyncio.get_running_loop()  # made where it is used
        self._full = producer._message_accumulator._batch_size
        self._windows: deque[Window] = deque()
        self._size = 0  # bytes waiting
        self._flusher: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # set while the flusher gathers
        self._hurry = False
        self._made = 0.0  # loop time the last batches were made

    async def send_and_wait(self, value: bytes, key: bytes) -> None:
        """Return once the broker acknowledged the record; raise what the producer raised,
        or TimeoutError past the deadline."""
        loop = self._loop
        windows = self._windows
        if not windows or (
            self.deadline_s is not None and loop.time() - windows[-1].opened > WINDOW_S
        ):
            windows.append(Window(loop, self.deadline_s))
        window = windows[-1]
        window.records.append((key, value))
        stored: asyncio.Future[None] = loop.create_future()
        window.waiting.append(stored)
        self._size += len(value)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        elif self._size >= self._full:
            self._wake_up()
        await stored

    async def flush(self) -> None:
        """Hand everything waiting to the producer now, and wait until it is queued."""
        flusher = self._flusher
        if flusher is None:
            return
        self._hurry = True
        self._wake_up()
        try:
            await asyncio.wait([flusher])
        finally:
            self._hurry = False

    def _wake_up(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def _gather(self, seconds: float) -> None:
        wake = self._wake = self._loop.create_future()
        timer = self._loop.call_later(seconds, self._wake_up)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    async def _flush(self) -> None:
        # Whatever arrives while batches are on their way goes in the next ones, all of it.
        loop = self._loop
        try:
            while self._windows:
                gather_s = (
                    max(self._windows[0].opened + self.linger_s, self._made + self.interval_s)
                    - loop.time()
                )
                if gather_s > 0 and not self._hurry and self._size < self._full:
                    await self._gather(gather_s)
                windows = list(self._windows)
                self._windows.clear()
                self._size = 0
                self._made = loop.time()
                try:
                    acks = await self._send(windows)
                except Exception as exc:  # every waiter gets it, as send would raise it
                    log.warning("records not queued", exc_info=True, extra={"topic": self.topic})
                    for window in windows:
                        settle(window.waiting, exc)
                        window.pending = 0
                        window.answered()
                    continue
                if self.after_ack and acks:
                    # Bounded by the deadline: an ack that never comes (the producer's own
                    # expiry failed) must not hold every later record back.
                    await asyncio.wait(acks, timeout=self.deadline_s)
        finally:
            self._flusher = None

    async def _send(self, windows: list[Window]) -> list[asyncio.Future[Any]]:
        """Hand the windows' records over in batches; the acks of those that went."""
        producer = self.producer
        partitions = list(await producer.partitions_for(self.topic))  # in `send`'s order
        available = list(producer._metadata.available_partitions_for_topic(self.topic))
        partitioner = self.partitioner
        one = None if self.per_key else partitioner(None, partitions, available)
        batches: dict[int, Batch] = {}
        acks: list[asyncio.Future[Any]] = []
        for window in windows:
            touched: set[int] = set()  # the partitions this window's records go to
            for (key, value), stored in zip(window.records, window.waiting, strict=True):
                partition = partitioner(key, partitions, available) if one is None else one
                touched.add(partition)
                batch = batches.get(partition)
                if batch is None:
                    batch = batches[partition] = Batch(producer.create_batch())
                if batch.builder.append(key=key, value=value, timestamp=None) is None:
                    # Full (the first record always fits, however large): send what it holds.
                    await self._submit(batch, partition, acks)
                    batch = batches[partition] = Batch(producer.create_batch())
                    batch.builder.append(key=key, value=value, timestamp=None)
                batch.waiting.append(stored)
            if window.expiry is not None:
                # A partition's batches are answered in order: once the batch open now on each
                # partition it touched is, so are the window's records.
                window.pending = len(touched)
                for partition in touched:
                    batches[partition].finished.append(window)
        for partition, batch in batches.items():
            await self._submit(batch, partition, acks)
        return acks

    async def _submit(self, batch: Batch, partition: int, acks: list[asyncio.Future[Any]]) -> None:
        batch.builder.close()  # nothing else appends to it (send would, to an open one)
        try:
            ack = await self.producer.send_batch(batch.builder, self.topic, partition=partition)
        except Exception as exc:  # not queued (the producer closed, a timeout): not stored
            log.warning("record batch not queued", exc_info=True, extra={"topic": self.topic})
            answered(batch, None, exc)
            return
        ack.add_done_callback(lambda done: answered(batch, done, None))
        acks.append(ack)


def answered(batch: Batch, done: asyncio.Future[Any] | None, error: BaseException | None) -> None:
    """A batch's outcome: its callers woken, and the windows it ends told."""
    if done is None:
        settle(batch.waiting, error)
    else:
        settle_from(batch.waiting, done)
    for window in batch.finished:
        window.answered()


def settle(waiting: Waiting, exc: BaseException | None) -> None:
    """Wake the callers still waiting."""
    for stored in waiting:
        if stored.done():  # its caller was cancelled, or its deadline passed
            continue
        if exc is None:
            stored.set_result(None)
        else:
            stored.set_exception(exc)


def settle_from(waiting: Waiting, acked: asyncio.Future[Any]) -> None:
    """Wake the callers of a batch by its outcome."""
    if acked.cancelled():
        # Not stored: told as the broker's absence (the caller produces it again), never as
        # a cancellation, which would end the caller's task with its record unfinished.
        settle(waiting, KafkaError("record batch cancelled before it was stored"))
    else:
        settle(waiting, acked.exception())
