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
# Names taken so far per (topic, team, kind): every follower refuses a second entity with a
# taken name (schemas.config_fold), as the API does, so a test declaring "twilio" twice in one
# team gets "twilio", then "twilio-2".
_NAMES: dict[tuple[str, str, str], set[str]] = {}


def free_name(settings: Settings, team_id: str, kind: str, name: str) -> str:
    taken = _NAMES.setdefault((settings.topics.config, team_id, kind), set())
    free = next(
        candidate
        for n in range(1, len(taken) + 2)
        if (candidate := name if n == 1 else f"{name}-{n}") not in taken
    )
    taken.add(free)
    return free


async def declare(
    producer: AIOKafkaProducer,
    settings: Settings,
    kind: str,
    body: dict[str, Any],
    team_id: str = "tm_test",
) -> dict[str, Any]:
    body = {**body, "name": free_name(settings, team_id, kind, body["name"])}
    model = MODELS[kind].model_validate(body)
    # In a thread, as the API does it: mini-racer refuses a thread with a running loop.
    assert await asyncio.to_thread(model.problems) == []
    entity = new_entity(
        kind, team_id, model.model_dump(mode="json"), SecretBox(settings.secret_key)
    )
    await publish_entity(producer, settings.topics.config, kind, entity)
    return entity


async def update(
    producer: AIOKafkaProducer,
    settings: Settings,
    kind: str,
    entity: dict[str, Any],
    version: int,
    **changes: Any,
) -> dict[str, Any]:
    changed = {**entity, **changes}
    await publish_entity(producer, settings.topics.config, kind, changed, version=version)
    return changed
