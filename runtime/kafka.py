"""The one Kafka helper: producer and consumer settings, topic creation, and the config follower.

Every service builds its in-memory view of the configuration the same way: read the compacted
config topic from the beginning, say "caught up" once it reached the end offsets it saw at
start, then keep following it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

from runtime import committed, coordination, resting, wire
from runtime.errors import RuntimeSetupError
from runtime.partitioning import KeyPartitioner
from runtime.serve import fail
from runtime.settings import Settings
from runtime.watch import BrokerWatch
from schemas.codec import Record, decode
from schemas.config_fold import ConfigFold, Verdict
from schemas.errors import SchemaError
from schemas.limits import MAX_MESSAGE_BYTES
from schemas.topics import Topics

log = logging.getLogger(__name__)

# Every process with a Kafka consumer imports this module: its consumers rest when idle
# instead of spinning against a broker that answers empty fetches at once.
resting.install()
# A group member the broker assigns nothing (it joined mid-assignment) rejoins, not dies.
coordination.install()
# A read_committed reader past an aborted transaction keeps reading its producer's later records
# (the embedded broker lists aborted transactions that ended before the fetch).
committed.install()
# Benchmarks count each process's broker requests by kind (off unless FASTHOOK_COUNT_REQUESTS).
wire.install()

# Every client is sized from the contract's one record limit (schemas.limits): a producer sends a
# record of MAX_MESSAGE_BYTES, a consumer fetches one from any partition; one fetch may bring a
# full-size record from each of a few partitions.
PRODUCER_SIZES: dict[str, object] = {"max_request_size": MAX_MESSAGE_BYTES}
CONSUMER_SIZES: dict[str, int] = {
    "max_partition_fetch_bytes": MAX_MESSAGE_BYTES,
    "fetch_max_bytes": 8 * MAX_MESSAGE_BYTES,
}


def make_producer(bootstrap: str, **overrides: object) -> AIOKafkaProducer:
    """A producer whose ack means the record is stored: idempotent, acks=all. Keyed records go
    where aiokafka's default partitioner (Kafka's murmur2) puts them, hashed without its
    per-byte Python (runtime.partitioning)."""
    options: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "partitioner": KeyPartitioner(),
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 1,
        "request_timeout_ms": 15_000,
        **PRODUCER_SIZES,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


class StickyPartitioner:
    """Every record of a short window to one partition, the next window's to the next.

    For topics whose keys are unique ids that say nothing about order (requests): hashing such a
    key spreads a moderate rate over every partition, so each produce request carries one
    record per partition, each its own record batch (and a sender wake-up each). Kept on one
    partition for `window_s`, the records of a window share a batch; over time the partitions
    get equal shares. Each instance starts at a random place, so several ingress processes do
    not all fill the same partition at once.
    """

    def __init__(
        self, window_s: float = 0.005, clock_ns: Callable[[], int] = time.monotonic_ns
    ) -> None:
        self._window_ns = int(window_s * 1e9)
        self._clock_ns = clock_ns
        self._offset = random.randrange(1 << 16)

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        partitions = available or all_partitions
        tick = self._clock_ns() // self._window_ns + self._offset
        return partitions[tick % len(partitions)]


def make_group_consumer(
    settings: Settings,
    group: str,
    *,
    idle_hold_max_s: float = resting.HOLD_MAX_S,
    **overrides: object,
) -> AIOKafkaConsumer:
    """A consumer-group member as every FastHook worker runs one: commits by hand, reads only
    committed records (bulk retries publish pages in transactions), and has a static member
    name so a restarted worker takes its partitions back at once (the embedded broker never
    evicts a killed member). `idle_hold_max_s`: how long its idle fetches may rest
    (runtime.resting), longer only for records that wait anyway."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group,
        "group_instance_id": settings.member_name(group),
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
        "isolation_level": "read_committed",
        **CONSUMER_SIZES,
    }
    options.update(overrides)
    return resting.RestingConsumer(
        idle_hold_max_s=idle_hold_max_s, gather_s=settings.fetch_gather_ms / 1000, **options
    )


async def leave_group(consumer: AIOKafkaConsumer) -> None:
    """Leave the consumer's group now, although it is a static member (which by design never
    leaves: a restart under the same name takes its partitions back at once). For a worker
    stopping for good — scaled down, or one of several sharing the topics — whose partitions
    must move to the others at once rather than after the broker's session timeout (never, on
    the embedded broker). Best effort: a failed leave falls back to that timeout. aiokafka
    skips the leave for static members, so the request is sent through its coordinator."""
    coordinator = getattr(consumer, "_coordinator", None)
    member_id = getattr(coordinator, "member_id", "")
    if coordinator is None or not member_id or member_id == JoinGroupRequest.UNKNOWN_MEMBER_ID:
        return
    try:
        await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, member_id))
    except KafkaError:
        log.warning("leaving the consumer group failed", exc_info=True)


async def assign_from_beginning(
    consumer: AIOKafkaConsumer, topic: str, only: Iterable[int] | None = None
) -> dict[TopicPartition, int]:
    """Assign every partition of `topic` (or those numbered in `only`) to a started consumer,
    from the first record; the end offsets as of now tell when the reader has caught up."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        raise RuntimeSetupError(f"topic {topic} does not exist")
    if only is not None:
        partitions = set(partitions) & set(only)
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    await consumer.seek_to_beginning(*assigned)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(assigned)
    return ends


async def read_compacted(
    consumer: AIOKafkaConsumer, topic: str, only: Iterable[int] | None = None
) -> dict[str, bytes]:
    """Every key's last value on a compacted topic (deleted keys left out), read by a started
    consumer to the topic's end as of now: how a job restores the state it keeps there.
    `only`: the partitions to read (all by default)."""
    ends = await assign_from_beginning(consumer, topic, only)
    values: dict[str, bytes] = {}
    while any([await consumer.position(tp) < end for tp, end in ends.items()]):
        for messages in (await consumer.getmany(timeout_ms=200)).values():
            for message in messages:
                key = message.key.decode("utf-8", "replace") if message.key else ""
                if message.value is None:
                    values.pop(key, None)
                else:
                    values[key] = message.value
    return values


async def ensure_topics(bootstrap: str, topics: Topics, *, replication: int = 1) -> list[str]:
    """Create every catalog topic that is missing, with its partitions and config."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
    except KafkaError as exc:
        raise RuntimeSetupError(f"Kafka at {bootstrap} is not reachable: {exc}") from exc
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, spec.partitions, replication, topic_configs=dict(spec.config))
            for name, spec in topics.all()
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created them first
        return [t.name for t in missing]
    finally:
        await admin.close()


# (entity id, its ConfigChanged record or None for a tombstone)
ConfigHandler = Callable[[str, Record | None], None]


# After a quiet spell the config followers fetch about twice a second (runtime.resting), instead
# of ten times: six processes follow the topic, and their idle fetches were half of an idle
# stack's broker requests. A change then reaches another service at most this much later; a
# reader waiting for it (`sync`, `verdict`: the API's read-your-writes, the router's fresh
# connections) wakes its follower, so it waits for no rest.
CONFIG_HOLD_MAX_S = 0.5

# Refused config records remembered for writers waiting on their own (by offset): refusals
# are rare, and a writer asks within seconds of its write.
REFUSALS_KEPT = 10_000


class ConfigFollower:
    """Feeds every ConfigChanged (or tombstone) of the config topic that takes effect to
    `apply`, in order: `fold` (schemas.config_fold) decides, the same way in every process."""

    def __init__(self, bootstrap: str, topic: str, apply: ConfigHandler) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._apply = apply
        self.fold = ConfigFold()
        self._refused: dict[tuple[int, int], Verdict] = {}
        self.caught_up = asyncio.Event()
        # Records applied so far: lets an operator (or a test) see the view catch up.
        self.applied = 0
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        # Wall-clock ms at which the last completed `sync_since` began: the view holds every
        # config change acknowledged before then.
        self.synced_ms = 0
        self._syncing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = resting.RestingConsumer(
            idle_hold_max_s=CONFIG_HOLD_MAX_S,
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **CONSUMER_SIZES,
        )
        await consumer.start()
        try:
            targets = await assign_from_beginning(consumer, self._topic)
        except RuntimeSetupError:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(targets), name=f"config-follower:{self._topic}")
        self._task.add_done_callback(self._crashed)

    def _crashed(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # The view stops changing: /readyz must say so rather than serve stale config.
            self.caught_up.clear()
            log.error("config follower stopped", exc_info=task.exception())
            fail(f"the config follower of {self._topic}")

    @property
    def client(self) -> object:
        """Its consumer's Kafka client (None until started)."""
        return getattr(self._consumer, "_client", None)

    @property
    def healthy(self) -> bool:
        return self.caught_up.is_set() and self._task is not None and not self._task.done()

    async def _run(self, targets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        idle = IdleFetch(self._consumer, rest_s=1.0)  # nothing to do between records
        pending = {tp: end for tp, end in targets.items() if end > 0}
        if not pending:
            self.caught_up.set()
        while True:
            batches = await idle.getmany()
            for tp, messages in batches.items():
                for message in messages:
                    self._deliver(message.key, message.value, (tp.partition, message.offset))
                self._positions[tp] = messages[-1].offset + 1
                if tp in pending and messages[-1].offset + 1 >= pending[tp]:
                    del pending[tp]
            if not pending and not self.caught_up.is_set():
                self.caught_up.set()
            self._progress.set()
            self._progress = asyncio.Event()

    def _deliver(self, key: bytes | None, value: bytes | None, at: tuple[int, int]) -> None:
        entity_id = key.decode() if key else ""
        try:
            record = decode(value, "ConfigChanged") if value is not None else None
        except SchemaError:
            # A config record we cannot read must not stop the view; it is logged loudly.
            log.exception("unreadable config record", extra={"entity_id": entity_id})
            return
        verdict = self.fold.fold(entity_id, record)
        self.applied += 1
        if verdict is not Verdict.ACCEPTED:
            self._refused[at] = verdict
            if len(self._refused) > REFUSALS_KEPT:
                del self._refused[next(iter(self._refused))]
            return
        self._apply(entity_id, record)

    async def verdict(self, partition: int, offset: int, timeout_s: float = 10.0) -> Verdict:
        """What the fold decided on the record at (partition, offset), once this follower read
        it: how a writer learns whether its own write took effect (read-your-writes)."""
        tp = TopicPartition(self._topic, partition)
        async with asyncio.timeout(timeout_s):
            while self._positions.get(tp, 0) <= offset:
                self._wake()
                await self._progress.wait()
        return self._refused.get((partition, offset), Verdict.ACCEPTED)

    async def sync(self, timeout_s: float = 10.0) -> None:
        """Wait until the view holds everything on the topic as of now (read-your-writes
        for another service's writes: e.g. an event for a connection created a moment ago)."""
        assert self._consumer is not None
        targets = await self._consumer.end_offsets(list(self._consumer.assignment()))
        async with asyncio.timeout(timeout_s):
            while any(self._positions.get(tp, 0) < end for tp, end in targets.items()):
                self._wake()
                await self._progress.wait()

    async def sync_since(self, since_ms: int) -> None:
        """Wait until the view holds every config change acknowledged before `since_ms` (wall
        clock): one sync for every reader waiting on it at once, not one each."""
        while since_ms > self.synced_ms:
            if self._syncing is None or self._syncing.done():
                self._syncing = asyncio.create_task(self._sync_once())
            await asyncio.shield(self._syncing)

    async def _sync_once(self) -> None:
        began_ms = int(time.time() * 1000)
        await self.sync()
        self.synced_ms = max(self.synced_ms, began_ms)

    def _wake(self) -> None:
        """A reader waits: the follower's fetcher stops resting (runtime.resting)."""
        fetcher = getattr(self._consumer, "_fetcher", None)
        if isinstance(fetcher, resting.RestingFetcher):
            fetcher.wake()

    async def wait_caught_up(self, timeout_s: float | None = None) -> None:
        await asyncio.wait_for(self.caught_up.wait(), timeout_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class ServiceKafka:
    """What every service holds of Kafka: an acks=all producer, a watch on the broker, and the
    follower that keeps the service's configuration view current."""

    producer: AIOKafkaProducer
    broker: BrokerWatch
    follower: ConfigFollower

    def readiness(self) -> dict[str, bool]:
        return {
            "config_view_loaded": self.follower.healthy,
            "broker_reachable": self.broker.reachable,
        }


@asynccontextmanager
async def producing(
    bootstrap: str, producer_options: Mapping[str, object] | None = None
) -> AsyncIterator[tuple[AIOKafkaProducer, BrokerWatch]]:
    """A started acks=all producer (`producer_options` added to make_producer's) and a watch
    on the broker it talks to."""
    producer = make_producer(bootstrap, **(producer_options or {}))
    await producer.start()
    broker = BrokerWatch(producer.client)
    try:
        await broker.check()
        broker.start()
        yield producer, broker
    finally:
        await broker.stop()
        # Flushes what was handed over, so a graceful stop loses nothing.
        await producer.stop()


@asynccontextmanager
async def service_kafka(
    bootstrap: str,
    config_topic: str,
    apply: ConfigHandler,
    producer_options: Mapping[str, object] | None = None,
) -> AsyncIterator[ServiceKafka]:
    async with producing(bootstrap, producer_options) as (producer, broker):
        follower = ConfigFollower(bootstrap, config_topic, apply)
        try:
            await follower.start()
            broker.hear(follower.client)
            yield ServiceKafka(producer, broker, follower)
        finally:
            await follower.stop()


def not_started() -> dict[str, bool]:
    return {"config_view_loaded": False, "broker_reachable": False}


class IdleFetch:
    """`getmany` for a consumer loop that must come round now and then (to commit, tick or see
    a stop flag) but not spin: it returns as soon as records are fetched, else after `rest_s`.

    Records are never waited for here: aiokafka wakes `getmany` the moment its fetcher has
    some. The fetcher itself rests when idle (runtime.resting), which is what keeps an idle
    consumer cheap against the embedded broker.
    """

    def __init__(self, consumer: AIOKafkaConsumer, rest_s: float = 0.1) -> None:
        self.consumer = consumer
        self.rest_s = rest_s

    async def getmany(
        self, *, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        batches: dict[TopicPartition, list[ConsumerRecord]] = await self.consumer.getmany(
            timeout_ms=int(self.rest_s * 1000), max_records=max_records
        )
        return batches
