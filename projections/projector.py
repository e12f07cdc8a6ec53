"""The projector: every topic → ClickHouse, in batches, committing offsets only after the
batch is written.

A crash between the write and the commit re-reads the batch; that is harmless because rows
are keyed by record id (ReplacingMergeTree) and every query ignores duplicates. A write that
fails is retried with backoff, never skipped, so the committed offset never passes a record
that is not in ClickHouse. A record that cannot be decoded is logged and counted: it can never
be projected, and stopping the projector for it would stop every view.

The consumer group is `<ns>-projector` (or `projector_group`) with static membership: a
projector restarted after a crash takes its partitions back at once (and the embedded broker
never evicts a SIGKILLed dynamic member). Any number of projector workers share the group's
partitions (docs/operations.md, "Scaling projections"); one that stops leaves the group, so
the others take its partitions at once. Every row is keyed by what it records (table ORDER BY
keys, ReplacingMergeTree) and the group's offsets live in Kafka, committed per partition by
its owner after the write: a batch re-read by a partition's next owner converges, no gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from projections.clickhouse import Engine, ident
from projections.errors import EngineError
from projections.metrics import ProjectionMetrics
from projections.rows import COLUMNS, as_tuple, project
from runtime.background import BackgroundTask
from runtime.kafka import IdleFetch, leave_group, make_group_consumer
from runtime.resting import SEARCH_HOLD_MAX_S
from runtime.settings import Settings
from schemas.codec import decode
from schemas.errors import SchemaError

log = logging.getLogger(__name__)

KINDS = ("requests", "events", "attempts", "ignored", "held", "config", "issues")


def group_name(settings: Settings) -> str:
    return settings.projector_group or f"{settings.topic_namespace}-projector"


# aiokafka has no type information (its classes are `Any` to mypy) yet insists on a subclass.
class _Seek(ConsumerRebalanceListener):  # type: ignore[misc]
    """For a rebuild: start every partition this member gets from the beginning."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self.projector.from_beginning and assigned:
            await self.projector.consumer.seek_to_beginning(*assigned)
        self.projector.assigned.set()


class Projector:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        db: str,
        metrics: ProjectionMetrics,
        *,
        from_beginning: bool = False,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.db = ident(db)
        self.metrics = metrics
        self.from_beginning = from_beginning
        self.kinds = {f"{settings.topic_namespace}.{kind}": kind for kind in KINDS}
        group = group_name(settings)
        self.consumer = make_group_consumer(
            settings,
            group,
            idle_hold_max_s=SEARCH_HOLD_MAX_S,
            max_poll_records=settings.projector_batch_records,
        )
        self._idle = IdleFetch(self.consumer)
        self.last_write_at = 0.0
        # Batches that wrote event facts, and a condition the list route's long poll waits on.
        self.event_batches = 0
        self._events_written = asyncio.Condition()
        self.assigned = asyncio.Event()  # set once partitions were assigned (and seeked)
        self.busy = False
        self._task = BackgroundTask("projector")

    @property
    def running(self) -> bool:
        return self._task.running

    async def start(self) -> None:
        await self.consumer.start()
        self.consumer.subscribe(list(self.kinds), listener=_Seek(self))
        self._task.start(self._run())

    async def _next_batch(self) -> list[ConsumerRecord]:
        """Records up to the batch size, or what came within the batch time of the first."""
        size = self.settings.projector_batch_records
        wait_s = self.settings.projector_batch_ms / 1000
        records: list[ConsumerRecord] = []
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while len(records) < size and not self._task.stopping:
            timeout = 200 if deadline is None else max(0, int((deadline - loop.time()) * 1000))
            batches = await (
                self._idle.getmany(max_records=size - len(records))
                if deadline is None
                else self.consumer.getmany(timeout_ms=timeout, max_records=size - len(records))
            )
            for messages in batches.values():
                records.extend(messages)
            if records:
                self.busy = True  # fetched, not yet written: positions run ahead of the tables
            if records and deadline is None:
                deadline = loop.time() + wait_s
            if deadline is None:
                if not batches:
                    return records  # idle: let the caller look at the stop flag
            elif loop.time() >= deadline:
                break
        return records

    async def _run(self) -> None:
        while not self._task.stopping:
            records = await self._next_batch()
            if records:
                await self.write(records)
                await self._commit(records)
            self.busy = False

    def rows(self, records: list[ConsumerRecord]) -> dict[str, list[tuple[Any, ...]]]:
        tables: dict[str, list[tuple[Any, ...]]] = {table: [] for table in COLUMNS}
        for message in records:
            kind = self.kinds[message.topic]
            key = message.key.decode("utf-8", "replace") if message.key else ""
            try:
                record = decode(message.value) if message.value is not None else None
                produced = project(kind, key, record, message.timestamp, message.offset)
            except (SchemaError, KeyError, TypeError, ValueError):
                self.metrics.skipped.labels(kind).inc()
                log.exception(
                    "record cannot be projected; skipped",
                    extra={
                        "topic": message.topic,
                        "partition": message.partition,
                        "offset": message.offset,
                    },
                )
                continue
            self.metrics.records.labels(kind).inc()
            for table, row in produced:
                tables[table].append(as_tuple(table, row))
        return tables

    async def write(self, records: list[ConsumerRecord]) -> None:
        """Insert the batch's rows, retrying until ClickHouse takes them."""
        tables = self.rows(records)
        delay = 0.2
        began = time.monotonic()
        for table, rows in tables.items():
            while rows:
                try:
                    await self.engine.insert(f"{self.db}.{table}", COLUMNS[table], rows)
                    self.metrics.rows.labels(table).inc(len(rows))
                    break
                except EngineError:
                    log.exception("insert failed; retrying", extra={"table": table})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
        self.metrics.batch_seconds.observe(time.monotonic() - began)
        self.last_write_at = time.time()
        if "event_log" in tables:
            async with self._events_written:
                self.event_batches += 1
                self._events_written.notify_all()

    async def events_written_after(self, batch: int, timeout_s: float) -> None:
        """Return once a batch of event facts other than number `batch` has been written (at
        once if it already was: a restarted projector counts from 0 again), or after
        `timeout_s`."""
        try:
            async with self._events_written:
                await asyncio.wait_for(
                    self._events_written.wait_for(lambda: self.event_batches != batch), timeout_s
                )
        except TimeoutError:
            pass

    async def _commit(self, records: list[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for message in records:
            tp = TopicPartition(message.topic, message.partition)
            offsets[tp] = max(offsets.get(tp, 0), message.offset + 1)
        try:
            await self.consumer.commit(offsets)
        except KafkaError:
            # A rebalance took the partitions: their new owner re-reads the batch, and
            # writing it twice changes nothing.
            log.warning("commit failed; the batch will be read again", exc_info=True)

    def unassigned(self) -> list[TopicPartition]:
        """The partitions of the projected topics this member does not own."""
        owned = self.consumer.assignment()
        return [
            TopicPartition(topic, partition)
            for topic in self.kinds
            for partition in sorted(self.consumer.partitions_for_topic(topic) or ())
            if TopicPartition(topic, partition) not in owned
        ]

    async def caught_up(self) -> bool:
        """Has every assigned partition been written up to its end offset as of now?"""
        assigned = list(self.consumer.assignment())
        if not assigned or self.busy:
            return False
        ends = await self.consumer.end_offsets(assigned)
        for tp in assigned:
            if ends[tp] > 0 and await self.consumer.position(tp) < ends[tp]:
                return False
        return not self.busy

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the batch in hand (bounded), then leave the group, so the other workers
        take this one's partitions at once; uncommitted records are re-read by them."""
        await self._task.stop(timeout_s)
        await leave_group(self.consumer)
        await self.consumer.stop()


def check_alone(projector: Projector) -> None:
    """Refuse to go on beside another projector of the group: it keeps some partitions, and
    a replay (or rebuild) would miss their records."""
    missing = projector.unassigned()
    if missing:
        raise EngineError(
            f"{len(missing)} partitions are owned by another projector of the "
            "group: stop every projections process first"
        )


async def ensure_alone(
    settings: Settings, engine: Engine, db: str, timeout_s: float = 60.0
) -> None:
    """Join the projector's group without projecting anything, check no other member holds
    partitions, and leave: what a rebuild does before it drops any table."""
    projector = Projector(settings, engine, db, ProjectionMetrics())
    await projector.consumer.start()
    try:
        projector.consumer.subscribe(list(projector.kinds), listener=_Seek(projector))
        async with asyncio.timeout(timeout_s):
            while not projector.assigned.is_set():
                # Polls the group (the join happens here); the records fetched are dropped,
                # nothing is committed.
                await projector.consumer.getmany(timeout_ms=200)
        check_alone(projector)
    finally:
        await leave_group(projector.consumer)
        await projector.consumer.stop()


async def replay_all(
    settings: Settings,
    engine: Engine,
    db: str,
    metrics: ProjectionMetrics,
    timeout_s: float = 600.0,
) -> None:
    """Read every topic from the beginning into the tables, as the projector's group, then
    stop with the group's offsets at the end: a projector started afterwards continues."""
    projector = Projector(settings, engine, db, metrics, from_beginning=True)
    await projector.start()
    try:
        async with asyncio.timeout(timeout_s):
            # Positions only count once the seek to the beginning has happened.
            await projector.assigned.wait()
            check_alone(projector)
            while not await projector.caught_up():
                if not projector.running:
                    raise EngineError("the projector stopped during the replay")
                await asyncio.sleep(0.1)
    finally:
        await projector.stop(timeout_s=60.0)
