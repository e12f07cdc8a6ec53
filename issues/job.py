"""The issues job's shell: read attempts, ignored events and API status changes; feed the
engine; write what it decided — issue records, notification events, pauses — together with
the engine's changed state and the input positions, in ONE Kafka transaction.

So a crash (SIGKILL) at any moment leaves either all of a batch's effects and its new state
and positions, or none: the restarted job rebuilds its state from the issues.state topic
(read_committed), seeks to the stored positions and reads the same records again. No issue is
opened twice, no count is lost or doubled. One producer transactional id per namespace fences
a zombie job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from issues.engine import Emit, Engine, Notify, Pause
from issues.freshness import may_follow_config_change
from issues.metrics import IssuesMetrics
from issues.notifications import notification_events
from runtime.background import BackgroundTask
from runtime.errors import RuntimeSetupError
from runtime.kafka import CONSUMER_SIZES, ConfigFollower, IdleFetch, make_producer, read_compacted
from runtime.resting import BACKGROUND_HOLD_MAX_S, RestingConsumer
from runtime.settings import Settings
from schemas.codec import Record, decode_named_record, encode
from schemas.entities import config_record
from schemas.errors import SchemaError
from schemas.issues import TYPES
from schemas.records import (
    AttemptRecorded,
    ConfigChanged,
    EventCreated,
    EventIgnored,
    IssueChanged,
)
from schemas.times import iso_ms

log = logging.getLogger(__name__)

POSITIONS = "positions"
# A record as read: its schema's name and its fields.
Read = tuple[str, Record]
BATCH = 2_000
TICK_MS = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def pause_record(connection: dict[str, Any], now: int) -> ConfigChanged:
    """The connection's next version, paused (as `PUT /v1/connections/{id}/pause` writes it)."""
    entity = {k: v for k, v in connection.items() if k != "_version"}
    stamp = iso_ms(now)
    entity.update(paused_at=entity.get("paused_at") or stamp, updated_at=stamp)
    return config_record("connection", entity, version=connection["_version"] + 1, now_ms=now)


class IssuesJob:
    def __init__(self, settings: Settings, metrics: IssuesMetrics) -> None:
        self.settings = settings
        self.topics = settings.topics
        self.metrics = metrics
        self.engine = Engine()
        self.follower = ConfigFollower(
            settings.kafka_bootstrap, self.topics.config, self.engine.apply_config
        )
        self.inputs = (
            self.topics.attempts,
            self.topics.ignored,
            self.topics.issues,
            self.topics.events,
        )
        self.positions: dict[TopicPartition, int] = {}
        # The config view holds every change acknowledged before this time (ms).
        self.config_fresh_ms = 0
        self.consuming = asyncio.Event()
        self._task = BackgroundTask("issues-job")

    @property
    def running(self) -> bool:
        return self._task.running

    async def start(self) -> None:
        began = now_ms()
        await self.follower.start()
        # Never judge issues on a partial view: an issue whose trigger seems gone resolves.
        await self.follower.wait_caught_up(60)
        self.config_fresh_ms = began
        self._task.start(self._run())

    async def stop(self, timeout_s: float = 10.0) -> None:
        await self._task.stop(timeout_s)
        await self.follower.stop()

    async def _run(self) -> None:
        delay = 0.5
        while not self._task.stopping:
            try:
                await self._session()
            except ProducerFenced:
                # A newer job took over (this one is the zombie): step aside, not fight back.
                log.error("another issues job fenced this one; stopping")
                self.consuming.clear()
                return
            except (KafkaError, TimeoutError, OSError, RuntimeSetupError):
                # RuntimeSetupError: the state topic is not there yet (never a fresh start
                # over stored state: that would skip what came since).
                log.exception("issues job interrupted; resuming from its committed state")
                self.consuming.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    def _consumer(self) -> AIOKafkaConsumer:
        # Issues are judged on counts over seconds: an idle job fetches about once a second.
        return RestingConsumer(
            idle_hold_max_s=BACKGROUND_HOLD_MAX_S,
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            **CONSUMER_SIZES,
        )

    async def _restore(self) -> None:
        """The engine's state and the positions, as last committed."""
        reader = self._consumer()
        await reader.start()
        try:
            stored = {
                key: json.loads(value)
                for key, value in (await read_compacted(reader, self.topics.issues_state)).items()
            }
        finally:
            await reader.stop()
        self.engine.reset()
        for key, value in stored.items():
            if key != POSITIONS:
                self.engine.load(key, value)
        self.engine.state_changes()  # loaded, not changed
        positions = stored.get(POSITIONS) or {}
        self.positions = {}
        for name, offset in positions.items():
            topic, _, partition = name.rpartition(":")
            self.positions[TopicPartition(topic, int(partition))] = int(offset)

    async def _session(self) -> None:
        producer = make_producer(
            self.settings.kafka_bootstrap,
            transactional_id=f"{self.settings.topic_namespace}-issues",
        )
        await producer.start()  # fences an older job and aborts its open transaction
        consumer = self._consumer()
        try:
            await self._restore()
            await consumer.start()
            assigned = [
                TopicPartition(topic, p)
                for topic in self.inputs
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            consumer.assign(assigned)
            fresh = [tp for tp in assigned if tp not in self.positions]
            for tp in assigned:
                if tp in self.positions:
                    consumer.seek(tp, self.positions[tp])
            if fresh:
                # First start: from now on. Stored at once, so a crash before the first batch
                # does not skip what arrives meanwhile.
                ends = await consumer.end_offsets(fresh)
                for tp in fresh:
                    self.positions[tp] = ends[tp]
                    consumer.seek(tp, ends[tp])
                await self._commit(producer, [], {}, now_ms())
            self.consuming.set()
            await self._loop(producer, consumer)
        finally:
            await consumer.stop()
            try:
                await producer.stop()
            except KafkaError:
                log.warning("issues producer stop failed", exc_info=True)

    async def _loop(self, producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> None:
        idle = IdleFetch(consumer, rest_s=TICK_MS / 1000)  # round at least once a tick
        last_tick = 0
        while not self._task.stopping:
            batches = await idle.getmany(max_records=BATCH)
            read = {tp: [self._read(m) for m in messages] for tp, messages in batches.items()}
            await self._sync_config_for(read)
            now = now_ms()
            for tp, messages in batches.items():
                for message, record in zip(messages, read[tp], strict=True):
                    if message.topic == self.topics.events:
                        record = self._read_event(message)
                    if record is not None:
                        self._dispatch(*record, now)
                self.positions[tp] = messages[-1].offset + 1
            if now - last_tick >= TICK_MS:
                self.engine.tick(now)
                last_tick = now
            effects = self.engine.drain()
            changes = self.engine.state_changes()
            if batches or effects or changes:
                await self._commit(producer, effects, changes, now)
                self.metrics.records.inc(sum(len(m) for m in batches.values()))

    async def _sync_config_for(self, read: dict[TopicPartition, list[Read | None]]) -> None:
        """A record may follow a config change (a trigger made a moment ago) that this view has
        not applied yet: where one could (issues.freshness), the config topic's end as of now
        is applied first."""
        known = self.engine.connections
        if not any(
            record is not None and may_follow_config_change(*record, known, self.config_fresh_ms)
            for records in read.values()
            for record in records
        ):
            return
        asked = now_ms()
        await self.follower.sync(30)
        self.config_fresh_ms = max(self.config_fresh_ms, asked)
        self.metrics.config_syncs.inc()

    def _read(self, message: ConsumerRecord) -> Read | None:
        """The record's name and fields; None for a tombstone, an unreadable record (counted)
        or an event (read after the sync: only a `pending_count` trigger needs them)."""
        if message.value is None or message.topic == self.topics.events:
            return None
        return self._decode(message)

    def _read_event(self, message: ConsumerRecord) -> Read | None:
        if message.value is None or not self.engine.watches_pending:
            return None  # events (with their bodies) matter only to a pending_count trigger
        return self._decode(message)

    def _decode(self, message: ConsumerRecord) -> Read | None:
        try:
            return decode_named_record(message.value)
        except SchemaError:
            self.metrics.unreadable.inc()
            log.exception("unreadable record skipped", extra={"topic": message.topic})
            return None

    def _dispatch(self, name: str, record: Record, now: int) -> None:
        """Feed the engine a record, typed by the schema the codec read it as (`name`)."""
        if name == "AttemptRecorded":
            self.engine.on_attempt(cast(AttemptRecorded, record))
        elif name == "EventCreated":
            self.engine.on_event(cast(EventCreated, record))
        elif name == "EventIgnored":
            self.engine.on_ignored(cast(EventIgnored, record))
        elif name.startswith("Issue") and record["actor"] == "api":
            self.engine.on_issue_change(cast(IssueChanged, record), now)

    async def _commit(
        self, producer: AIOKafkaProducer, effects: list[Any], changes: dict[str, Any], now: int
    ) -> None:
        topics = self.topics
        positions = {f"{tp.topic}:{tp.partition}": offset for tp, offset in self.positions.items()}
        async with producer.transaction():
            sent = []
            for effect in effects:
                for topic, key, value in self._messages(effect, now):
                    sent.append(await producer.send(topic, value, key=key.encode()))
            for key, value in changes.items():
                data = None if value is None else json.dumps(value, separators=(",", ":"))
                sent.append(
                    await producer.send(
                        topics.issues_state, data.encode() if data else None, key=key.encode()
                    )
                )
            sent.append(
                await producer.send(
                    topics.issues_state, json.dumps(positions).encode(), key=POSITIONS.encode()
                )
            )
            await asyncio.gather(*sent)
        for effect in effects:
            if isinstance(effect, Emit):
                self.metrics.changes.labels(effect.change).inc()
            elif isinstance(effect, Notify):
                self.metrics.notifications.labels(effect.kind).inc()
        open_now = self.engine.open_by_type()
        for kind in TYPES:
            self.metrics.open.labels(kind).set(open_now.get(kind, 0))

    def _messages(self, effect: Any, now: int) -> list[tuple[str, str, bytes]]:
        topics = self.topics
        if isinstance(effect, Emit):
            record = {
                "issue": effect.issue,
                "change": effect.change,
                "actor": "job",
                "changed_at": now,
            }
            return [(topics.issues, effect.issue["issue_id"], encode(effect.record_name, record))]
        if isinstance(effect, Notify):
            return [
                (topics.events, event["event_id"], encode("EventCreated", event))
                for event in notification_events(effect.trigger, effect.kind, effect.issue, now)
            ]
        if isinstance(effect, Pause):
            connection = self.engine.connections.get(effect.connection_id)
            if connection is None or connection.get("paused_at"):
                return []
            log.info(
                "pausing a connection for an issue",
                extra={"connection_id": effect.connection_id, "issue_id": effect.issue_id},
            )
            return [
                (
                    topics.config,
                    effect.connection_id,
                    encode("ConfigChanged", pause_record(connection, now)),
                )
            ]
        raise TypeError(f"unknown effect {effect!r}")
