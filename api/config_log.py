"""Writing configuration as ConfigChanged records on the compacted config topic.

Any number of API replicas (and the admin commands) write at once. A write carries the version
its writer based it on; whether it takes effect is decided when the record is read back in
topic order (schemas.config_fold), by every follower the same way. The writer waits for its
own follower to read the record back, so its view holds the write when it answers
(read-your-writes) — or it answers 409 when the fold refused it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaProducer

from api.errors import Unavailable, WriteRefused
from api.view import ConfigView
from runtime.kafka import ConfigFollower
from schemas.codec import encode
from schemas.config_fold import Verdict
from schemas.entities import EntityType, config_record
from schemas.records import ConfigChanged

log = logging.getLogger(__name__)

# How long a writer waits to read its own record back before answering 503 (the write may
# still take effect: the client reads to find out).
READ_BACK_S = 10.0
# Restating the held state after a refusal, at most this many times (see `_restate`).
RESTATES = 3

REFUSED = {
    Verdict.STALE: "another write of this {kind} came first (its version moved on)",
    Verdict.DELETED: "the {kind} was deleted",
    Verdict.NAME_TAKEN: "another {kind} took the name {name!r} first",
}


async def publish_entity(
    producer: AIOKafkaProducer,
    topic: str,
    entity_type: EntityType,
    entity: dict[str, Any],
    *,
    version: int = 1,
) -> ConfigChanged:
    record = config_record(entity_type, entity, version=version)
    await producer.send_and_wait(topic, encode("ConfigChanged", record), key=entity["id"].encode())
    return record


async def publish_tombstone(producer: AIOKafkaProducer, topic: str, entity_id: str) -> None:
    await producer.send_and_wait(topic, None, key=entity_id.encode())


class ConfigStore:
    """Conditional writes to the config topic, each answered once `follower` read it back."""

    def __init__(
        self, producer: AIOKafkaProducer, topic: str, view: ConfigView, follower: ConfigFollower
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.view = view
        self.follower = follower

    def version_of(self, kind: EntityType, entity_id: str) -> int | None:
        held = self.view.get(kind, entity_id)
        return held.version if held else None

    async def put(
        self,
        kind: EntityType,
        entity: dict[str, Any],
        *,
        base: int | None = None,
        fresh: bool = False,
    ) -> dict[str, Any]:
        """Write `entity`'s next version. `base`: the version it was computed from (None: the
        one this replica holds now; `fresh`: a new entity, based on nothing). Raises
        WriteRefused when the fold refused it."""
        if base is None and not fresh:
            base = self.version_of(kind, entity["id"])
        version = (base or 0) + 1
        record = config_record(kind, entity, version=version)
        sent = await self.producer.send_and_wait(
            self.topic, encode("ConfigChanged", record), key=entity["id"].encode()
        )
        verdict = await self._read_back(sent.partition, sent.offset)
        if verdict is not Verdict.ACCEPTED:
            await self._restate(kind, entity["id"])
            raise WriteRefused(verdict, REFUSED[verdict].format(kind=kind, name=entity.get("name")))
        return entity

    async def delete(self, entity_id: str) -> None:
        """Deletes always take effect (ids are never reused for another entity)."""
        sent = await self.producer.send_and_wait(self.topic, None, key=entity_id.encode())
        await self._read_back(sent.partition, sent.offset)

    async def _read_back(self, partition: int, offset: int) -> Verdict:
        try:
            return await self.follower.verdict(partition, offset, READ_BACK_S)
        except TimeoutError:
            raise Unavailable(
                "the write is stored but not yet read back; read it to see whether it took effect"
            ) from None

    async def _restate(self, kind: EntityType, entity_id: str) -> None:
        """After a refusal, write what the fold holds again under the same key, so the refused
        record is not the key's last: compaction keeps only a key's last record, and a reader
        of the compacted topic takes the first record it sees of an entity as is. The restated
        version equals the one held, so every follower that holds it ignores the record; if a
        newer write came between, restate that one."""
        for _ in range(RESTATES):
            held = self.view.get(kind, entity_id)
            if held is None:
                sent = await self.producer.send_and_wait(self.topic, None, key=entity_id.encode())
                await self._read_back(sent.partition, sent.offset)
                return
            record = config_record(kind, held.entity, version=held.version)
            sent = await self.producer.send_and_wait(
                self.topic, encode("ConfigChanged", record), key=entity_id.encode()
            )
            await self._read_back(sent.partition, sent.offset)
            if self.fold_version(entity_id) == held.version:
                return
        log.warning("config record not restated", extra={"entity_id": entity_id})

    def fold_version(self, entity_id: str) -> int | None:
        return self.follower.fold.versions.get(entity_id)
