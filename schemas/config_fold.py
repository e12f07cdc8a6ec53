"""Which records of the config topic take effect: the one rule every follower applies, in
topic order, so that every replica of every service holds the same configuration.

Several API replicas write the config topic at once. A write is a `ConfigChanged` whose
`version` is one more than the version its writer based it on; whether it takes effect is
decided here, when the record is read back in topic order, never by the writer's view alone:

- a version not above the one held is stale (another write of the same base came first);
- an update (version > 1) of an entity deleted before it is refused: ids are never reused,
  so only a re-creation (version 1: an issue trigger's channel added back) may follow a delete;
- a name (per team and kind, for the kinds whose names are unique) is claimed by the first
  entity that takes it and held until that entity is renamed or deleted.

The name rule compares records of different keys, so it needs one order across keys: the
config topic has one partition (schemas.topics), and must keep it.

An entity first seen at version > 1 is taken as is: compaction dropped its earlier records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Kinds whose names are unique within a team (as the API has always checked them).
NAMED_KINDS = frozenset({"source", "destination", "connection", "issue_trigger"})

NameKey = tuple[str, str, str]  # (kind, team_id, name)


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    STALE = "stale"
    DELETED = "deleted"
    NAME_TAKEN = "name_taken"


def name_key(kind: str, entity: dict[str, Any]) -> NameKey | None:
    """The name an entity claims, if its kind's names are unique. System entities (an issue
    trigger's channels) are named after their trigger and claim nothing."""
    name = entity.get("name")
    if kind not in NAMED_KINDS or entity.get("system") or not isinstance(name, str):
        return None
    return (kind, str(entity.get("team_id") or ""), name)


def _claim(record: dict[str, Any] | None) -> NameKey | None:
    if record is None or record["entity_type"] not in NAMED_KINDS:
        return None  # parse only the entities that may claim a name
    return name_key(record["entity_type"], json.loads(record["entity"]))


@dataclass
class ConfigFold:
    """What the rule needs to remember of the records folded so far."""

    versions: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    holders: dict[NameKey, str] = field(default_factory=dict)
    claims: dict[str, NameKey] = field(default_factory=dict)

    def decide(self, entity_id: str, record: dict[str, Any] | None) -> Verdict:
        """The verdict on the next record of the topic, without folding it."""
        return self._verdict(entity_id, record, _claim(record))

    def _verdict(
        self, entity_id: str, record: dict[str, Any] | None, claim: NameKey | None
    ) -> Verdict:
        if record is None:
            return Verdict.ACCEPTED  # a delete always takes effect
        version = int(record["version"])
        held = self.versions.get(entity_id)
        if held is not None and version <= held:
            return Verdict.STALE
        if held is None and entity_id in self.deleted and version > 1:
            return Verdict.DELETED
        holder = self.holders.get(claim) if claim is not None else None
        if holder is not None and holder != entity_id:
            return Verdict.NAME_TAKEN
        return Verdict.ACCEPTED

    def fold(self, entity_id: str, record: dict[str, Any] | None) -> Verdict:
        """Decide on the next record and, if it takes effect, remember it."""
        claim = _claim(record)
        verdict = self._verdict(entity_id, record, claim)
        if verdict is not Verdict.ACCEPTED:
            return verdict
        self._release(entity_id)
        if record is None:
            self.versions.pop(entity_id, None)
            self.deleted.add(entity_id)
            return verdict
        self.versions[entity_id] = int(record["version"])
        self.deleted.discard(entity_id)
        if claim is not None:
            self.holders[claim] = entity_id
            self.claims[entity_id] = claim
        return verdict

    def _release(self, entity_id: str) -> None:
        claim = self.claims.pop(entity_id, None)
        if claim is not None and self.holders.get(claim) == entity_id:
            del self.holders[claim]
