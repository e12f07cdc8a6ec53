"""Consuming with many records in flight per partition, committing only what is finished.

Each record is handled in its own task; a handler that fails because the broker is briefly away
is retried with backoff rather than skipped, so nothing is lost; the committed offset moves
only past records whose handler finished. Any other failure is a bug in handling that one
record: with `skip_failed` (the events consumer, whose handler records the failure first) it is
logged and the record left behind, since retrying it for ever would hold its partition; without
(the retry tiers and held events, whose handlers only wait and hand records back) it is retried
like the broker's absence, since leaving such a record behind would lose its event. In flight is
bounded: past it, reading waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from deliverer.offsets import PartitionOffsets
from runtime.kafka import IdleFetch, make_group_consumer
from runtime.resting import HOLD_MAX_S
from runtime.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[ConsumerRecord], Awaitable[None]]
COMMIT_EVERY_S = 0.5
# aiokafka retries a commit the broker answers with a retriable error for as long as that
# lasts: bounded, so a stop (or the next commit, which waits for this one) never hangs on it.
# Uncommitted offsets are only read again.
COMMIT_TIMEOUT_S = 10.0
# Failures worth waiting out: the broker, or the way to it, is away for now.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)


# aiokafka has no type information (its classes are `Any` to mypy) yet insists on a subclass.
class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: ConcurrentConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.owner.commit()
        for tp in revoked:
            self.owner.offsets.pop(tp, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass


class ConcurrentConsumer:
    def __init__(
        self,
        settings: Settings,
        topics: list[str],
        group: str,
        handle: Handler,
        max_in_flight: int,
        *,
        drain_on_stop: bool = True,
        skip_failed: bool = True,
        idle_rest_s: float = 0.1,
        idle_hold_max_s: float = HOLD_MAX_S,
    ) -> None:
        self.drain_on_stop = drain_on_stop
        self.skip_failed = skip_failed
        self.topics = topics
        self.group = group
        self.handle = handle
        self.max_in_flight = max_in_flight
        self.offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        # One commit at a time: the loop's own runs beside the fetching, a rebalance's or the
        # stop's waits for it.
        self._commit_lock = asyncio.Lock()
        self._committing: asyncio.Task[None] | None = None
        self.consumer = make_group_consumer(settings, group, idle_hold_max_s=idle_hold_max_s)
        self._fetch = IdleFetch(self.consumer, rest_s=idle_rest_s)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        self._loop = asyncio.create_task(self._run(), name=f"consume:{self.group}")

    async def _run(self) -> None:
        last_commit = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await self._room.wait()
            room = self.max_in_flight - self._in_flight
            batches = await self._fetch.getmany(max_records=max(room, 1))
            for tp, messages in batches.items():
                tracker = self.offsets.setdefault(tp, PartitionOffsets())
                for message in messages:
                    tracker.started(message.offset)
                    self._in_flight += 1
                    task = asyncio.create_task(self._one(tp, tracker, message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            if self._in_flight >= self.max_in_flight:
                self._room.clear()
            if loop.time() - last_commit >= COMMIT_EVERY_S and (
                self._committing is None or self._committing.done()
            ):
                # Beside the fetching, not in series with it: a commit is a round trip to the
                # broker (10-20 ms under load, hundreds under a burst), and records fetched
                # meanwhile would wait for it.
                self._committing = asyncio.create_task(self.commit())
                last_commit = loop.time()

    async def _one(
        self, tp: TopicPartition, tracker: PartitionOffsets, message: ConsumerRecord
    ) -> None:
        delay = 0.1
        while True:
            try:
                await self.handle(message)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                where = {
                    "group": self.group,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": message.offset,
                }
                if self.skip_failed and not isinstance(exc, INFRASTRUCTURE_ERRORS):
                    log.exception("handler failed on this record; left behind", extra=where)
                    break
                log.exception("handler failed; retrying", extra=where)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        tracker.finished(message.offset)
        self._in_flight -= 1
        if self._in_flight < self.max_in_flight:
            self._room.set()

    async def commit(self) -> None:
        async with self._commit_lock:
            await self._commit()

    async def _commit(self) -> None:
        offsets = {}
        for tp, tracker in list(self.offsets.items()):
            position = tracker.committable()
            if position is not None and position > self._committed.get(tp, -1):
                offsets[tp] = position
        if not offsets:
            return
        try:
            await asyncio.wait_for(self.consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except Exception:  # a rebalance in progress, or a timeout: the next commit carries it
            log.warning("commit failed", exc_info=True, extra={"group": self.group})
            return
        self._committed.update(offsets)

    async def stop(self, drain_timeout_s: float) -> None:
        """Stop reading, let in-flight records finish (bounded), commit, leave."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=drain_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.commit()
        await self.consumer.stop()
