"""Deduplicating: candidates of deduplicating connections, decided against the router's state.

    router.dedupe (keyed by dedupe key) ──decide──▶ events / ignored
                                        └─────────▶ router.dedupe.seen (the state, compacted)

A group of its own (`<ns>-router-dedupe`) reads the candidates; the state of candidate
partition n (per dedupe key, the first candidate let through in its window) lives in memory and
on partition n of the compacted `router.dedupe.seen` topic, read back when partition n is
assigned, before its first candidate is decided. Candidates of a partition are decided in
offset order (router.dedupe.decide, pure); the state write and the outcome are produced before
the candidate's offset is finished and so committed (runtime.consuming). A crash after the
write and before the commit decides the candidate again on a state that already holds it: the
same event goes through again (same id), which downstream reads as one fact. Keys whose window
has passed are forgotten every `FORGET_EVERY_S`, in memory and on the topic (a tombstone).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from router.dedupe import Seen, decide, duplicate, expired
from router.emitting import WINDOW_HEADER, Emitter, Stored
from router.routing import Ignored, Routed
from runtime.consuming import INFRASTRUCTURE_ERRORS, Finish, GroupConsumer, store_outputs
from runtime.kafka import CONSUMER_SIZES, read_compacted
from runtime.settings import Settings
from schemas.codec import decode
from schemas.errors import SchemaError

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 512
FORGET_EVERY_S = 30.0


class DedupeConsumer(GroupConsumer):
    def __init__(
        self,
        settings: Settings,
        producer: AIOKafkaProducer,
        emitter: Emitter,
        crash: Callable[[], None],
    ) -> None:
        super().__init__(
            settings,
            [settings.topics.router_dedupe],
            f"{settings.topic_namespace}-router-dedupe",
            MAX_IN_FLIGHT,
            member=settings.member_name("router-dedupe"),
            leave_on_stop=settings.worker_count("router") > 1,
        )
        self.settings = settings
        self.state_topic = settings.topics.router_dedupe_seen
        self.producer = producer
        self.emitter = emitter
        self.crash = crash
        # candidate partition → dedupe key → the first candidate let through in its window
        self.seen: dict[int, dict[str, Seen]] = {}
        self._forgetting: asyncio.Task[None] | None = None
        self._restored = asyncio.Event()  # set (and replaced) after each assignment's restore

    async def start(self) -> None:
        await super().start()
        self._forgetting = asyncio.create_task(self._forget(), name="dedupe-forget")

    async def stop(self, drain_timeout_s: float) -> None:
        if self._forgetting is not None:
            self._forgetting.cancel()
            await asyncio.gather(self._forgetting, return_exceptions=True)
        await super().stop(drain_timeout_s)

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        # Read back at every assignment, even of a partition this worker held before: another
        # member may have held it in between (this one's session lapsed) and stored more.
        wanted = sorted({tp.partition for tp in assigned})
        try:
            if wanted:
                await self._restore(wanted)
        except Exception:
            log.exception("restoring the dedupe state failed; stopping the worker")
            self.crash()
        finally:
            # Wakes what waits for this restore; later waits wait for the next one.
            self._restored.set()
            self._restored = asyncio.Event()

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.seen.pop(tp.partition, None)

    async def _restore(self, partitions: list[int]) -> None:
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            **CONSUMER_SIZES,
        )
        await reader.start()
        try:
            for partition in partitions:
                stored = await read_compacted(reader, self.state_topic, [partition])
                self.seen[partition] = {
                    key: Seen.from_json(json.loads(value)) for key, value in stored.items()
                }
        finally:
            await reader.stop()
        log.info(
            "dedupe state restored",
            extra={"partitions": partitions, "keys": sum(len(self.seen[p]) for p in partitions)},
        )

    async def _state(self, tp: TopicPartition) -> dict[str, Seen] | None:
        """The partition's state, once restored; None if the partition is no longer ours."""
        while tp.partition not in self.seen:
            if tp not in self.assignment():
                return None
            await self._restored.wait()
        return self.seen[tp.partition]

    async def dispatch(
        self, tp: TopicPartition, messages: list[ConsumerRecord], finish: Finish
    ) -> None:
        seen = await self._state(tp)
        if seen is None:
            # Revoked while its state was read: its next owner decides these. Finished only
            # to free their room: a revoked partition's tracker is never committed from.
            for message in messages:
                finish(message.offset)
            return
        deciding, stored = [], []
        for message in messages:
            try:
                stored += await self._decide(tp.partition, seen, message)
            except SchemaError:
                log.exception("unreadable dedupe candidate skipped")
                finish(message.offset)
                continue
            deciding.append(message)
        if deciding:
            self.spawn(self._settle(tp.partition, deciding, stored, finish))

    async def _decide(
        self, partition: int, seen: dict[str, Seen], message: ConsumerRecord
    ) -> list[Stored]:
        candidate = decode(message.value, "EventCreated")
        key = message.key.decode()
        window_ms = int(dict(message.headers or ()).get(WINDOW_HEADER, b"0"))
        verdict = decide(seen.get(key), candidate["event_id"], candidate["created_at"], window_ms)
        if verdict.remember is None:
            assert verdict.duplicate_of is not None
            return [await self.emitter.emit(Ignored(duplicate(candidate, verdict.duplicate_of)))]
        seen[key] = verdict.remember
        remembered: Stored = await self.producer.send(
            self.state_topic,
            json.dumps(verdict.remember.as_json()).encode(),
            key=message.key,
            partition=partition,
        )
        return [remembered, await self.emitter.emit(Routed(candidate))]

    async def _settle(
        self,
        partition: int,
        deciding: list[ConsumerRecord],
        stored: list[Stored] | None,
        finish: Finish,
    ) -> None:
        """Finish the candidates once their state writes and outcomes are stored; decide them
        again (the state holds them: the same verdicts) until they are."""

        async def decide_all() -> list[Stored] | None:
            seen = self.seen.get(partition)
            if seen is None:
                return None  # revoked meanwhile: its new owner decides them
            out: list[Stored] = []
            for message in deciding:
                out += await self._decide(partition, seen, message)
            return out

        try:
            await store_outputs(decide_all, stored)
        except Exception:
            log.exception("deduplicating failed; stopping the worker to decide it again")
            self.crash()
            return  # never finished: its offset is not committed past
        # Revoked or not, finished: a revoked partition's tracker is no longer committed from,
        # finishing there only frees the room in flight.
        for message in deciding:
            finish(message.offset)

    async def _forget(self) -> None:
        while True:
            await asyncio.sleep(FORGET_EVERY_S)
            now_ms = int(time.time() * 1000)
            for partition, seen in list(self.seen.items()):
                for key in expired(seen, now_ms):
                    del seen[key]
                    try:
                        # Not waited for: a lost tombstone only brings the key back at the next
                        # restore, where it is forgotten again.
                        await self.producer.send(
                            self.state_topic, None, key=key.encode(), partition=partition
                        )
                    except INFRASTRUCTURE_ERRORS:
                        log.warning("forgetting a dedupe key failed", exc_info=True)
