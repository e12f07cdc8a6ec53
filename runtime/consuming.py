"""Consuming with many records in flight per partition, committing only what is finished.

`GroupConsumer` is the loop every worker of a consumer group runs: fetch a bounded batch
(`getmany`), hand it to `dispatch`, and commit — beside the fetching, not in series with it —
only offsets whose records and every record before them are finished (runtime.offsets). What
"finished" means is the subclass's: a delivery recorded, a request's outputs acknowledged by the
broker. At a rebalance the committable offsets are committed and the revoked partitions'
trackers dropped: work still in flight for them finishes on the dropped tracker (never
committed), and the partition's new owner reads it again from the last commit.

`ConcurrentConsumer` handles each record in its own task; a handler that fails because the
broker is briefly away is retried with backoff rather than skipped, so nothing is lost. Any
other failure is a bug in handling that one record: with `skip_failed` (the deliverer's events
consumer, whose handler records the failure first) it is logged and the record left behind,
since retrying it for ever would hold its partition; without (the retry tiers and held events,
whose handlers only wait and hand records back) it is retried like the broker's absence, since
leaving such a record behind would lose its event. In flight is bounded: past it, reading waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from runtime.kafka import IdleFetch, leave_group, make_group_consumer
from runtime.offsets import PartitionOffsets
from runtime.resting import HOLD_MAX_S, RestingFetcher
from runtime.serve import fail
from runtime.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[ConsumerRecord], Awaitable[None]]
# Called with a record's offset once the record is finished: its offset may be committed when
# every offset before it is finished too.
Finish = Callable[[int], None]
COMMIT_EVERY_S = 0.5
# aiokafka retries a commit the broker answers with a retriable error for as long as that
# lasts: bounded, so a stop (or the next commit, which waits for this one) never hangs on it.
# Uncommitted offsets are only read again.
COMMIT_TIMEOUT_S = 10.0
# Failures worth waiting out: the broker, or the way to it, is away for now.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (KafkaError, OSError, TimeoutError)
RETRY_MAX_S = 30.0
# Hands records to a producer and returns their produce futures, or None to give up.
Produce = Callable[[], Awaitable[list[asyncio.Future[Any]] | None]]


async def store_outputs(produce: Produce, stored: list[asyncio.Future[Any]] | None) -> bool:
    """Wait until the records of a record handled are stored (their produce futures resolved):
    `stored`, the futures if they were produced already, else `produce` makes them. A failure
    to store them (the broker away) is waited out, and they are produced again — the handling
    gives the same records again, so at worst they are stored twice. False if `produce` gave
    up; any other failure is raised."""
    delay = 0.1
    while True:
        try:
            if stored is None:
                stored = await produce()
                if stored is None:
                    return False
            await asyncio.gather(*stored)
            return True
        except INFRASTRUCTURE_ERRORS:
            log.warning("outputs not stored; producing them again", exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            stored = None


def _named(partitions: list[TopicPartition]) -> list[str]:
    return [f"{tp.topic}:{tp.partition}" for tp in partitions]


# aiokafka has no type information (its classes are `Any` to mypy) yet insists on a subclass.
class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Until the new assignment nothing more is dispatched: records fetched meanwhile would
        # start a tracker blind to the offsets still in flight before them, and its commit
        # could pass them. They are read again from the committed offsets.
        self.owner.rebalancing = True
        log.info(
            "partitions revoked", extra={"group": self.owner.group, "partitions": _named(revoked)}
        )
        await self.owner.commit()
        for tp in revoked:
            self.owner.offsets.pop(tp, None)
            self.owner.committed.pop(tp, None)
        await self.owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            # Fetching starts again from the committed offset: what a tracker of an earlier
            # assignment holds (finished offsets never committed) must not count.
            self.owner.offsets.pop(tp, None)
        self.owner.rebalancing = False
        log.info(
            "partitions assigned", extra={"group": self.owner.group, "partitions": _named(assigned)}
        )
        await self.owner.on_assigned(assigned)


class GroupConsumer:
    """A consumer-group member whose commits never pass an unfinished record.

    Subclasses implement `dispatch`: it is awaited for each partition's batch in fetch order
    (so it may decide records in order), and calls `finish(offset)` for each record once done
    — at once, or later from a task started with `spawn`.
    """

    def __init__(
        self,
        settings: Settings,
        topics: list[str],
        group: str,
        max_in_flight: int,
        *,
        member: str | None = None,
        drain_on_stop: bool = True,
        idle_rest_s: float = COMMIT_EVERY_S,
        idle_hold_max_s: float = HOLD_MAX_S,
        leave_on_stop: bool = False,
        consumer_options: Mapping[str, object] | None = None,
    ) -> None:
        # idle_rest_s: how long the loop waits for records before it comes round anyway (to
        # commit what finished since). Records wake it at once, so this only sets how late
        # the last offsets of a burst are committed, and how often an idle loop wakes.
        self.drain_on_stop = drain_on_stop
        # One of several workers on a machine (`fasthook run --workers`): a later run may have
        # fewer, and a static member that never comes back keeps its partitions (for ever on
        # the embedded broker), so a worker that stops for good leaves (runtime.kafka).
        self.leave_on_stop = leave_on_stop
        self.topics = topics
        self.group = group
        self.max_in_flight = max_in_flight
        self.offsets: dict[TopicPartition, PartitionOffsets] = {}
        self.committed: dict[TopicPartition, int] = {}
        self.rebalancing = False
        self._in_flight = 0
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        # One commit at a time: the loop's own runs beside the fetching, a rebalance's or the
        # stop's waits for it.
        self._commit_lock = asyncio.Lock()
        self._committing: asyncio.Task[None] | None = None
        # consumer_options: aiokafka settings over make_group_consumer's (e.g. heartbeats).
        overrides = {**(consumer_options or {})}
        if member is not None:
            overrides["group_instance_id"] = member
        self.consumer = make_group_consumer(
            settings, group, idle_hold_max_s=idle_hold_max_s, **overrides
        )
        self._fetch = IdleFetch(self.consumer, rest_s=idle_rest_s)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wake(self) -> None:
        """Records for this group were just produced (by this process): its idle fetcher stops
        resting (runtime.resting), so a consumer that rests long when idle reads them at once
        when its own process wrote them."""
        fetcher = getattr(self.consumer, "_fetcher", None)
        if isinstance(fetcher, RestingFetcher):
            fetcher.wake()

    def assignment(self) -> set[TopicPartition]:
        assigned: set[TopicPartition] = self.consumer.assignment()
        return assigned

    async def dispatch(
        self, tp: TopicPartition, messages: list[ConsumerRecord], finish: Finish
    ) -> None:
        raise NotImplementedError

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        """When partitions are assigned. aiokafka fetches from them meanwhile: `dispatch` may
        be called before this returns."""

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        """After the revoked partitions' last commit by this member."""

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task the stop waits for (bounded) before its last commit."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(self.topics, listener=_Rebalance(self))
        self._loop = asyncio.create_task(self._run(), name=f"consume:{self.group}")
        self._loop.add_done_callback(self._ended)

    def _ended(self, loop: asyncio.Task[None]) -> None:
        if not loop.cancelled() and loop.exception() is not None:
            # Nothing more is read; what was not finished is read again after the restart.
            log.error(
                "consumer loop stopped", exc_info=loop.exception(), extra={"group": self.group}
            )
            fail(f"the consumer loop of {self.group}")

    def _finisher(self, tracker: PartitionOffsets) -> Finish:
        def finish(offset: int) -> None:
            tracker.finished(offset)
            self._in_flight -= 1
            if self._in_flight < self.max_in_flight:
                self._room.set()

        return finish

    async def _run(self) -> None:
        last_commit = 0.0
        loop = asyncio.get_running_loop()
        while True:
            await self._room.wait()
            room = self.max_in_flight - self._in_flight
            batches = await self._fetch.getmany(max_records=max(room, 1))
            for tp, messages in batches.items():
                if self.rebalancing or tp not in self.assignment():
                    continue  # read again, by whoever owns the partition after the rebalance
                tracker = self.offsets.setdefault(tp, PartitionOffsets())
                for message in messages:
                    tracker.started(message.offset)
                self._in_flight += len(messages)
                await self.dispatch(tp, messages, self._finisher(tracker))
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

    async def commit(self) -> None:
        async with self._commit_lock:
            await self._commit()

    async def _commit(self) -> None:
        offsets = {}
        assigned = self.assignment()
        for tp, tracker in list(self.offsets.items()):
            position = tracker.committable()
            if tp in assigned and position is not None and position > self.committed.get(tp, -1):
                offsets[tp] = position
        if not offsets:
            return
        try:
            await asyncio.wait_for(self.consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except Exception:  # a rebalance in progress, or a timeout: the next commit carries it
            log.warning("commit failed", exc_info=True, extra={"group": self.group})
            return
        self.committed.update(offsets)

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
        if self.leave_on_stop:
            await leave_group(self.consumer)
        await self.consumer.stop()


class ConcurrentConsumer(GroupConsumer):
    """Each record handled in a task of its own (see the module's docstring)."""

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
        idle_rest_s: float = COMMIT_EVERY_S,
        idle_hold_max_s: float = HOLD_MAX_S,
        leave_on_stop: bool = False,
        consumer_options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(
            settings,
            topics,
            group,
            max_in_flight,
            drain_on_stop=drain_on_stop,
            idle_rest_s=idle_rest_s,
            idle_hold_max_s=idle_hold_max_s,
            leave_on_stop=leave_on_stop,
            consumer_options=consumer_options,
        )
        self.skip_failed = skip_failed
        self.handle = handle

    async def dispatch(
        self, tp: TopicPartition, messages: list[ConsumerRecord], finish: Finish
    ) -> None:
        for message in messages:
            self.spawn(self._one(tp, message, finish))

    async def _one(self, tp: TopicPartition, message: ConsumerRecord, finish: Finish) -> None:
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
        finish(message.offset)
