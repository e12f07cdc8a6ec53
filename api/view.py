"""The control plane's in-memory view of every configuration entity, built from the config
topic like every other service's view: the follower hands it only the records that took effect
(schemas.config_fold), and a writer answers once its own record was read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.entities import EntityType, entity_of

Entity = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Versioned:
    entity: Entity
    version: int


class ConfigView:
    def __init__(self) -> None:
        self._entities: dict[EntityType, dict[str, Versioned]] = {}
        self._type_of: dict[str, EntityType] = {}
        self._key_by_hash: dict[str, str] = {}

    def apply(self, entity_id: str, record: dict[str, Any] | None) -> None:
        """A ConfigChanged (or a tombstone) that took effect; older versions than what we hold
        are ignored all the same."""
        if record is None:
            self._remove(entity_id)
            return
        kind: EntityType = record["entity_type"]
        held = self._entities.get(kind, {}).get(entity_id)
        if held is not None and held.version >= record["version"]:
            return
        entity = entity_of(record)
        self._remove(entity_id)
        self._entities.setdefault(kind, {})[entity_id] = Versioned(entity, record["version"])
        self._type_of[entity_id] = kind
        if kind == "api_key":
            self._key_by_hash[entity["hash"]] = entity_id

    def _remove(self, entity_id: str) -> None:
        kind = self._type_of.pop(entity_id, None)
        if kind is None:
            return
        held = self._entities[kind].pop(entity_id)
        if kind == "api_key":
            self._key_by_hash.pop(held.entity["hash"], None)

    def get(self, kind: EntityType, entity_id: str, team_id: str | None = None) -> Versioned | None:
        held = self._entities.get(kind, {}).get(entity_id)
        if held is None or (team_id is not None and held.entity.get("team_id") != team_id):
            return None
        return held

    def all(self, kind: EntityType, team_id: str | None = None) -> list[Entity]:
        """Newest first (ids are time-sortable)."""
        found = [
            v.entity
            for v in self._entities.get(kind, {}).values()
            if team_id is None or v.entity.get("team_id") == team_id
        ]
        return sorted(found, key=lambda e: e["id"], reverse=True)

    def every(self) -> list[tuple[EntityType, Entity]]:
        """(kind, entity) of every entity held, whatever its kind."""
        return [(kind, v.entity) for kind, held in self._entities.items() for v in held.values()]

    def key_by_hash(self, key_hash: str) -> Entity | None:
        entity_id = self._key_by_hash.get(key_hash)
        held = self._entities.get("api_key", {}).get(entity_id or "")
        return held.entity if held else None

    def named(self, kind: EntityType, team_id: str, name: str) -> Entity | None:
        return next((e for e in self.all(kind, team_id) if e["name"] == name), None)
