"""Many requests' records in one produce batch, each request still waiting for its own ack.

aiokafka's `send` per record (accumulator lookup, partitioner, a future and a batch append with
their checks, then `send_and_wait`'s await chain) and a deadline timer per request were a
tenth of the ingress's CPU per keep-alive request. Here a request appends its record to the
current window and waits on a plain future; one flusher task writes everything waiting into
`BatchBuilder`s and hands them over with `send_batch`, and a batch's ack settles every future
in it. A record's answer still goes out only after the broker acknowledged it (the batch
carries it), with the producer's idempotence and acks unchanged; a flush goes to one
partition, as the ingress's sticky partitioner already put a few milliseconds' records
(runtime.kafka.StickyPartitioner).

When batches are made decides how many records a produce request carries: the next batch
waits for the previous one's ack (the producer sends one request at a time to a broker),
gathers LINGER_S from its first record, and comes at most every BATCH_INTERVAL_S.

The produce deadline is one timer per window, not per request: it runs from the window's
first record, so a later record's is shorter by at most WINDOW_S (a window no longer takes
records once it is that old). A record past its deadline is answered as not stored, and may
still be stored later, as with aiokafka's own `send` under a timeout."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from runtime.batching import settle, settle_from

Partitioner = Callable[[bytes | None, list[int], list[int]], int]
Waiting = list["asyncio.Future[None]"]

# How long a window takes records: the most a record's produce deadline is cut short by.
WINDOW_S = 0.01
# How long a batch gathers records from its first: the ingress's producer linger was 1 ms.
LINGER_S = 0.001
# Batches are made at most this often: at moderate rates a produce request then carries
# several records, not one or two (each request costs the broker and the producer alike).
BATCH_INTERVAL_S = 0.005


class Window:
    """Records handed over together, and their one deadline."""

    __slots__ = ("expiry", "opened", "records", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, deadline_s: float) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.waiting: Waiting = []  # a future per record, its caller's
        self.opened = loop.time()
        self.expiry = loop.call_later(deadline_s, self.expire, deadline_s)

    def expire(self, deadline_s: float) -> None:
        settle(self.waiting, TimeoutError(f"no ack within {deadline_s:g}s"))

    def settled(self) -> None:
        self.expiry.cancel()


class RecordBatcher:
    """`send_and_wait(key, value)` for one topic, sent in batches of whatever is waiting."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        partitioner: Partitioner,
        deadline_s: float,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._partitioner = partitioner
        self._deadline_s = deadline_s
        self._windows: deque[Window] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._made = 0.0  # loop time the last batch was made

    async def send_and_wait(self, key: bytes, value: bytes) -> None:
        """Return once the broker acknowledged the record; raise what the producer raised,
        or TimeoutError past the deadline."""
        loop = asyncio.get_running_loop()
        windows = self._windows
        if not windows or loop.time() - windows[-1].opened > WINDOW_S:
            windows.append(Window(loop, self._deadline_s))
        acked: asyncio.Future[None] = loop.create_future()
        window = windows[-1]
        window.records.append((key, value))
        window.waiting.append(acked)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        await acked

    async def _flush(self) -> None:
        # Whatever arrives while a batch is on its way goes in the next batch, all of it, and
        # that batch is made only once the one before is acknowledged: the producer sends one
        # request at a time to a broker, so a batch closed earlier would leave with the next
        # request carrying a record or two, and the records after it in yet another.
        loop = asyncio.get_running_loop()
        try:
            while self._windows:
                # A batch gathers for LINGER_S from its first record, as the producer's own
                # linger would (the batcher's producer has none: a batch cannot grow once made).
                gather_s = (
                    max(self._windows[0].opened + LINGER_S, self._made + BATCH_INTERVAL_S)
                    - loop.time()
                )
                if gather_s > 0:
                    await asyncio.sleep(gather_s)
                windows = list(self._windows)
                self._windows.clear()
                self._made = loop.time()
                try:
                    last = await self._send(windows)
                except Exception as exc:  # every waiter gets it, as send would raise it
                    for window in windows:
                        acknowledged(window.waiting, [window], exc)
                    continue
                if last is not None:
                    # Bounded: an ack that never comes (the producer's own expiry failed)
                    # must not hold every later record back.
                    await asyncio.wait([last], timeout=self._deadline_s)
        finally:
            self._flusher = None

    async def _send(self, windows: list[Window]) -> asyncio.Future[object] | None:
        """Hand the windows' records over in batches; the last batch's ack, if it went."""
        producer = self._producer
        partitions = sorted(await producer.partitions_for(self._topic))
        partition = self._partitioner(None, partitions, partitions)
        batch = producer.create_batch()
        waiting: Waiting = []  # the callers of this batch's records
        finished: list[Window] = []  # the windows whose last record is in this batch
        for window in windows:
            for (key, value), acked in zip(window.records, window.waiting, strict=True):
                if batch.append(key=key, value=value, timestamp=None) is None:
                    # Full (the first record always fits, however large): send what it holds.
                    await self._submit(batch, partition, waiting, finished)
                    batch, waiting, finished = producer.create_batch(), [], []
                    batch.append(key=key, value=value, timestamp=None)
                waiting.append(acked)
            finished.append(window)
        return await self._submit(batch, partition, waiting, finished)

    async def _submit(
        self, batch: BatchBuilder, partition: int, waiting: Waiting, finished: list[Window]
    ) -> asyncio.Future[object] | None:
        batch.close()  # nothing else appends to it (send would, to an open one)
        try:
            ack = await self._producer.send_batch(batch, self._topic, partition=partition)
        except Exception as exc:  # these records' waiters get it
            acknowledged(waiting, finished, exc)
            return None
        ack.add_done_callback(lambda done: answered(waiting, finished, done))
        return ack  # type: ignore[no-any-return]  # aiokafka is untyped


def acknowledged(waiting: Waiting, finished: list[Window], error: BaseException | None) -> None:
    """A batch not handed over: its records' waiters get the error, and the deadlines of the
    windows it ends are cancelled."""
    settle(waiting, error)
    for window in finished:
        window.settled()


def answered(waiting: Waiting, finished: list[Window], done: asyncio.Future[object]) -> None:
    """A batch's outcome: its records' waiters woken, and the deadlines of the windows it
    ends cancelled (a partition's batches are acknowledged in order, so theirs came first)."""
    settle_from(waiting, done)
    for window in finished:
        window.settled()
