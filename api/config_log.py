"""Writing configuration as ConfigChanged records on the compacted config topic.

A change is stored once the broker acknowledged it; a delete is a tombstone for the entity id.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import encode
from schemas.ids import new_id

ENTITY_PREFIX = {"team": "tm", "source": "src", "destination": "des", "connection": "con"}


def new_source_token() -> str:
    """The unguessable part of a source URL: lower-case alphanumerics."""
    return secrets.token_hex(12)


def config_record(
    entity_type: str, entity: dict[str, Any], *, version: int, now_ms: int | None = None
) -> dict[str, Any]:
    return {
        "entity_type": entity_type,
        "entity_id": entity["id"],
        "team_id": entity.get("team_id"),
        "version": version,
        "changed_at": int(time.time() * 1000) if now_ms is None else now_ms,
        "entity": json.dumps(entity, separators=(",", ":"), sort_keys=True),
    }


def complete_source(entity: dict[str, Any], team_id: str) -> dict[str, Any]:
    """Give a declared source the fields the API would: id, team, token, status, timestamps."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    completed = {
        "type": "WEBHOOK",
        "status": "enabled",
        "description": None,
        "created_at": now,
        "updated_at": now,
        **entity,
    }
    completed.setdefault("id", new_id("src"))
    completed.setdefault("token", new_source_token())
    completed["team_id"] = entity.get("team_id", team_id)
    return completed


async def publish_entity(
    producer: AIOKafkaProducer, topic: str, entity_type: str, entity: dict[str, Any],
    *, version: int = 1,
) -> None:
    record = config_record(entity_type, entity, version=version)
    await producer.send_and_wait(topic, encode("ConfigChanged", record), key=entity["id"].encode())


async def publish_tombstone(producer: AIOKafkaProducer, topic: str, entity_id: str) -> None:
    await producer.send_and_wait(topic, None, key=entity_id.encode())
