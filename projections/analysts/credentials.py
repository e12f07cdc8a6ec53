"""Who may query: the analysts on the config log, as this process's in-memory view (built from
the config topic like every service's view), and the password check."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, cast

from projections.analysts.protocol import AUTHENTICATION_FAILED, ClickHouseFailure, Credentials
from schemas.entities import Analyst, entity_of


class AnalystView:
    """Active analysts by user name; a revoked or deleted analyst is gone at once."""

    def __init__(self, on_change: Callable[[Analyst, bool], None] | None = None) -> None:
        self._by_name: dict[str, Analyst] = {}
        self._name_of: dict[str, str] = {}
        # Called with (entity, active) when an analyst appears or goes (server mode: grants).
        self._on_change = on_change

    def apply(self, entity_id: str, record: dict[str, Any] | None) -> None:
        if record is not None and record["entity_type"] != "analyst":
            return
        name = self._name_of.pop(entity_id, None)
        gone = self._by_name.get(name or "")
        if gone is not None and gone["id"] == entity_id:
            del self._by_name[name or ""]
        if record is None:
            if gone is not None and self._on_change:
                self._on_change(gone, False)
            return
        entity = cast(Analyst, entity_of(record))  # its entity_type says so
        active = not entity.get("revoked_at")
        if active:
            self._by_name[entity["name"]] = entity
            self._name_of[entity_id] = entity["name"]
        if self._on_change:
            self._on_change(entity, active)

    def get(self, name: str) -> Analyst | None:
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self._by_name)


def authenticate(view: AnalystView, given: Credentials | None) -> Analyst:
    """The analyst these credentials name, else ClickHouse's own authentication error."""
    user = given.user if given else "default"
    analyst = view.get(user) if given else None
    digest = hashlib.sha256((given.password if given else "").encode()).hexdigest()
    if analyst is None or not hmac.compare_digest(digest, analyst["hash"]):
        raise ClickHouseFailure(
            AUTHENTICATION_FAILED,
            "AUTHENTICATION_FAILED",
            f"{user}: Authentication failed: password is incorrect, or there is no user with "
            "such name. Analysts are created with `fasthook analysts create NAME`",
        )
    return analyst
