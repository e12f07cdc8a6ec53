"""Declaring configuration exactly as the API writes it (validated, secrets sealed)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from api.config_log import publish_entity
from api.entities import new_entity
from api.models import ConnectionIn, DestinationIn, SourceIn
from runtime.secrets import SecretBox
from runtime.settings import Settings

MODELS = {"source": SourceIn, "destination": DestinationIn, "connection": ConnectionIn}


async def declare(producer: AIOKafkaProducer, settings: Settings, kind: str,
                  body: dict[str, Any], team_id: str = "tm_test") -> dict[str, Any]:
    model = MODELS[kind].model_validate(body)
    # In a thread, as the API does it: mini-racer refuses a thread with a running loop.
    assert await asyncio.to_thread(model.problems) == []
    entity = new_entity(kind, team_id, model.model_dump(mode="json"),
                        SecretBox(settings.secret_key))
    await publish_entity(producer, settings.topics.config, kind, entity)
    return entity


async def update(producer: AIOKafkaProducer, settings: Settings, kind: str,
                 entity: dict[str, Any], version: int, **changes: Any) -> dict[str, Any]:
    changed = {**entity, **changes}
    await publish_entity(producer, settings.topics.config, kind, changed, version=version)
    return changed
