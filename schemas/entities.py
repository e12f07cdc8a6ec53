"""The configuration entities, as the compacted config topic carries them: a `ConfigChanged`
record whose `entity` is the entity as JSON (secrets sealed), keyed by the entity's id. The API
writes them, every service builds its view from them; the shapes below are what the API
writes, so a reader knows what a field holds (one added later is read with `.get`)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from schemas.records import ConfigChanged

EntityType = Literal[
    "team", "api_key", "analyst", "source", "destination", "connection", "issue_trigger"
]
Status = Literal["enabled", "disabled"]


class SigningSecret(TypedDict):
    current: str  # sealed
    previous: str | None  # sealed; valid until previous_valid_until
    previous_valid_until: str | None
    rotated_at: str | None


class Team(TypedDict):
    id: str
    name: str
    signing_secret: SigningSecret
    created_at: str
    updated_at: str


class ApiKey(TypedDict):
    id: str
    name: str
    team_ids: list[str]
    hash: str  # SHA-256 of the key, which is shown once and never stored
    hint: str
    created_at: str
    updated_at: str
    revoked_at: str | None


class Analyst(TypedDict):
    id: str
    name: str
    team_id: str | None  # None: every team
    hash: str
    created_at: str
    updated_at: str
    revoked_at: str | None


class _TeamEntity(TypedDict):
    id: str
    team_id: str
    name: str
    status: Status
    created_at: str
    updated_at: str
    disabled_at: str | None


class Source(_TeamEntity):
    description: str | None
    type: Literal["WEBHOOK"]
    token: str  # the unguessable part of the source's URL
    config: dict[str, Any]  # auth_type, auth (secrets sealed), allowed_http_methods, …


class _Companion(TypedDict, total=False):
    """What marks a destination or connection the API made to deliver an issue trigger's
    channel: no route shows it, and only the trigger changes it."""

    system: str
    issue_trigger_id: str
    channel: str


class Destination(_TeamEntity, _Companion):
    description: str | None
    type: Literal["HTTP", "CLI"]
    config: dict[str, Any]  # url | path, auth_type, auth (secrets sealed), rate limit, …


class Connection(_TeamEntity, _Companion):
    description: str | None
    source_id: str
    destination_id: str
    rules: list[dict[str, Any]]
    paused_at: str | None


class IssueTrigger(_TeamEntity):
    type: Literal["delivery", "transformation", "backpressure"]
    configs: dict[str, Any]
    channels: dict[str, Any]
    action: Literal["notify", "pause"]


Entity = Team | ApiKey | Analyst | Source | Destination | Connection | IssueTrigger


def config_record(
    entity_type: EntityType, entity: Mapping[str, Any], *, version: int, now_ms: int | None = None
) -> ConfigChanged:
    """The `ConfigChanged` record of an entity's new state (`version`: one more than the
    state it replaces)."""
    return {
        "entity_type": entity_type,
        "entity_id": entity["id"],
        "team_id": entity.get("team_id"),
        "version": version,
        "changed_at": int(time.time() * 1000) if now_ms is None else now_ms,
        "entity": json.dumps(entity, separators=(",", ":"), sort_keys=True),
    }


def entity_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The entity a `ConfigChanged` record carries (its `entity_type` says which shape)."""
    entity: dict[str, Any] = json.loads(record["entity"])
    return entity
