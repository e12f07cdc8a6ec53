"""The router's in-memory view of connections, fed by the config topic.

For each source, the connections a request goes out on, in creation order, with what the router
needs: rules, and whether the connection and its destination are enabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.entities import entity_of


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    name: str
    team_id: str
    source_id: str
    destination_id: str
    rules: tuple[dict[str, Any], ...]
    enabled: bool


class ConnectionView:
    def __init__(self) -> None:
        self._by_source: dict[str, dict[str, Connection]] = {}
        self._source_of: dict[str, str] = {}
        self._destination_enabled: dict[str, bool] = {}
        # for_source's answers, kept until the next config change (every request asks).
        self._sorted: dict[str, list[Connection]] = {}

    def _drop(self, entity_id: str) -> None:
        source_id = self._source_of.pop(entity_id, None)
        if source_id is not None:
            self._by_source[source_id].pop(entity_id, None)

    def apply(self, entity_id: str, record: dict[str, Any] | None) -> None:
        self._sorted.clear()
        self._drop(entity_id)
        if record is None:
            self._destination_enabled.pop(entity_id, None)
            return
        entity = entity_of(record)
        if record["entity_type"] == "connection":
            connection = Connection(
                id=entity["id"],
                name=entity.get("name", ""),
                team_id=entity["team_id"],
                source_id=entity["source_id"],
                destination_id=entity["destination_id"],
                rules=tuple(entity.get("rules") or ()),
                enabled=entity.get("status", "enabled") == "enabled",
            )
            self._by_source.setdefault(connection.source_id, {})[entity_id] = connection
            self._source_of[entity_id] = connection.source_id
        elif record["entity_type"] == "destination":
            self._destination_enabled[entity_id] = entity.get("status", "enabled") == "enabled"

    def for_source(self, source_id: str) -> list[Connection]:
        """The source's connections by id (a list the caller must not change)."""
        found = self._sorted.get(source_id)
        if found is None:
            found = self._sorted[source_id] = sorted(
                self._by_source.get(source_id, {}).values(), key=lambda c: c.id
            )
        return found

    def destination_enabled(self, destination_id: str) -> bool:
        return self._destination_enabled.get(destination_id, False)
