"""The ingress's in-memory view of sources, fed by the config topic.

The view maps the token in a source URL to what the ingress needs to answer: status, allowed
methods, auth and the custom response. It is rebuilt from the compacted config topic at start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ingress.errors import InvalidSourceConfig
from runtime.errors import SettingsError
from runtime.secrets import SecretBox
from schemas.entities import entity_of

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CONTENT_TYPES = {"json": "application/json", "xml": "text/xml", "text": "text/plain"}


@dataclass(frozen=True, slots=True)
class CustomResponse:
    content_type: str
    body: str


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    team_id: str
    token: str
    name: str
    enabled: bool
    allowed_methods: frozenset[str]
    auth_type: str | None
    auth: dict[str, Any] | None
    custom_response: CustomResponse | None


def source_from_entity(entity: dict[str, Any], box: SecretBox) -> Source:
    """Read a source entity (the API's shape plus its URL token) into what ingress serves."""
    try:
        config = entity.get("config") or {}
        auth = box.open_all(config.get("auth"))
        custom = config.get("custom_response")
        methods = config.get("allowed_http_methods") or DEFAULT_METHODS
        return Source(
            id=entity["id"],
            team_id=entity["team_id"],
            token=entity["token"],
            name=entity.get("name", ""),
            enabled=entity.get("status", "enabled") == "enabled"
            and entity.get("disabled_at") is None,
            allowed_methods=frozenset(m.upper() for m in methods),
            auth_type=config.get("auth_type"),
            auth=auth,
            custom_response=(
                CustomResponse(CONTENT_TYPES[custom["content_type"]], custom["body"])
                if custom
                else None
            ),
        )
    except SettingsError as exc:
        raise InvalidSourceConfig(f"source {entity.get('id')!r}: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidSourceConfig(f"source {entity.get('id')!r}: missing or bad {exc}") from exc


class SourceView:
    """token → Source, applied in config-topic order."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._by_token: dict[str, Source] = {}
        self._token_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def by_token(self, token: str) -> Source | None:
        return self._by_token.get(token)

    def apply(self, entity_id: str, record: dict[str, Any] | None) -> None:
        if record is not None and record["entity_type"] != "source":
            return
        old_token = self._token_of.pop(entity_id, None)
        if old_token is not None:
            self._by_token.pop(old_token, None)
        if record is None:
            return
        try:
            source = source_from_entity(entity_of(record), self._box)
        except (InvalidSourceConfig, ValueError) as exc:
            log.error("source not served", extra={"entity_id": entity_id, "error": str(exc)})
            return
        self._by_token[source.token] = source
        self._token_of[entity_id] = source.token
