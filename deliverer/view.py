"""The deliverer's in-memory view of configuration, fed by the config topic: destinations
(with their secrets opened), connections (rules, paused or disabled) and teams' signing
secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.errors import SettingsError
from runtime.secrets import SecretBox
from schemas.entities import entity_of
from schemas.times import now_iso

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionState:
    id: str
    destination_id: str
    paused: bool
    retry: dict[str, Any] | None
    disabled: bool = False


def is_disabled(entity: dict[str, Any]) -> bool:
    """As the API marks it: `status: disabled` with the time in `disabled_at`."""
    return entity.get("status") == "disabled" or bool(entity.get("disabled_at"))


class DeliveryView:
    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self.destinations: dict[str, dict[str, Any]] = {}
        self.connections: dict[str, ConnectionState] = {}
        self._teams: dict[str, dict[str, Any]] = {}
        # Team id -> its signing secrets opened so far ("current", "previous"): opening one is
        # a Fernet decryption, which every delivery would otherwise pay (~4% of its CPU).
        self._opened: dict[str, dict[str, str]] = {}
        # Called with a connection id when its held events may go: it was unpaused, disabled
        # or deleted (the last two cancel them).
        self.on_release: Callable[[str], None] = lambda _: None

    def apply(self, entity_id: str, record: dict[str, Any] | None) -> None:
        if record is None:
            self.destinations.pop(entity_id, None)
            if self.connections.pop(entity_id, None) is not None:
                self.on_release(entity_id)
            self._teams.pop(entity_id, None)
            self._opened.pop(entity_id, None)
            return
        kind: str = record["entity_type"]
        entity = entity_of(record)
        try:
            if kind == "destination":
                self.destinations[entity_id] = self._box.open_all(entity)
            elif kind == "team":
                self._teams[entity_id] = entity["signing_secret"]
                self._opened.pop(entity_id, None)  # rotated, perhaps
            elif kind == "connection":
                self._apply_connection(entity_id, entity)
        except SettingsError as exc:
            log.error("config entity not usable", extra={"entity_id": entity_id, "error": str(exc)})

    def _apply_connection(self, entity_id: str, entity: dict[str, Any]) -> None:
        before = self.connections.get(entity_id)
        retry = next((r for r in entity.get("rules") or () if r.get("type") == "retry"), None)
        state = ConnectionState(
            entity_id,
            entity["destination_id"],
            paused=bool(entity.get("paused_at")),
            retry=retry,
            disabled=is_disabled(entity),
        )
        self.connections[entity_id] = state
        if before is not None and before.paused and (not state.paused or state.disabled):
            self.on_release(entity_id)

    def signing_secrets(self, team_id: str, now_s: float | None = None) -> list[str]:
        """The current secret, and the previous one while its grace period lasts."""
        secret = self._teams.get(team_id)
        if secret is None:
            return []
        found = [self._open(team_id, "current", secret)]
        until = secret.get("previous_valid_until")
        # The clock is read only for a team with a previous secret (formatting it is ~4 µs).
        if secret.get("previous") and until and until > now_iso(now_s):
            found.append(self._open(team_id, "previous", secret))
        return found

    def _open(self, team_id: str, which: str, secret: dict[str, Any]) -> str:
        # Opened when first needed, as before: a secret that does not open fails the delivery
        # that needs it, not the view.
        opened = self._opened.setdefault(team_id, {})
        if which not in opened:
            opened[which] = self._box.open(secret[which])
        return opened[which]
