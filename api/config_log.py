"""Writing configuration as ConfigChanged records on the compacted config topic.

A change is stored once the broker acknowledged it; a delete is a tombstone for the entity id.
The writer then applies the change to its own view, so a client reads its own writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from api.view import ConfigView
from schemas.codec import encode
from schemas.entities import EntityType, config_record


async def publish_entity(
    producer: AIOKafkaProducer, topic: str, entity_type: EntityType, entity: dict[str, Any],
    *, version: int = 1,
) -> dict[str, Any]:
    record = config_record(entity_type, entity, version=version)
    await producer.send_and_wait(topic, encode("ConfigChanged", record), key=entity["id"].encode())
    return record


async def publish_tombstone(producer: AIOKafkaProducer, topic: str, entity_id: str) -> None:
    await producer.send_and_wait(topic, None, key=entity_id.encode())


class ConfigStore:
    """Serialised writes to the config topic, each applied to `view` once acked."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, view: ConfigView) -> None:
        self.producer = producer
        self.topic = topic
        self.view = view
        self._lock = asyncio.Lock()

    async def put(self, kind: EntityType, entity: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            held = self.view.get(kind, entity["id"])
            version = (held.version + 1) if held else 1
            record = await publish_entity(self.producer, self.topic, kind, entity, version=version)
            self.view.apply(entity["id"], record)
        return entity

    async def delete(self, entity_id: str) -> None:
        async with self._lock:
            await publish_tombstone(self.producer, self.topic, entity_id)
            self.view.apply(entity_id, None)
