"""Records the issues job reads, made the way the deliverer and router make them."""

from __future__ import annotations

import json
from typing import Any

from schemas.ids import new_id

TEAM = "tm_test"


def trigger_entity(trigger_id: str, **configs: Any) -> dict[str, Any]:
    channels = configs.pop("channels", {})
    action = configs.pop("action", "notify")
    kind = configs.pop("type", "delivery")
    return {
        "id": trigger_id,
        "team_id": TEAM,
        "name": "t",
        "type": kind,
        "configs": configs,
        "channels": channels,
        "action": action,
        "status": "enabled",
    }


def config(kind: str, entity: dict[str, Any], version: int = 1) -> dict[str, Any]:
    return {
        "entity_type": kind,
        "entity_id": entity["id"],
        "team_id": entity.get("team_id"),
        "version": version,
        "changed_at": 0,
        "entity": json.dumps(entity),
    }


def attempt(
    connection_id: str,
    at: int,
    *,
    status: int | None = 500,
    error_code: str | None = None,
    ok: bool = False,
    number: int = 1,
    final: bool = True,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "attempt_id": new_id("atm", at),
        "event_id": event_id or new_id("evt", at),
        "request_id": new_id("req", at),
        "team_id": TEAM,
        "source_id": "src_1",
        "connection_id": connection_id,
        "destination_id": "des_1",
        "attempt_number": number,
        "trigger": "INITIAL",
        "status": "SUCCESSFUL" if ok else "FAILED",
        "requested_url": "http://x",
        "http_method": "POST",
        "request_headers": [],
        "response_status": 200 if ok else status,
        "error_code": None if ok else error_code,
        "event_status": "SUCCESSFUL" if ok else ("FAILED" if final else "SCHEDULED"),
        "next_attempt_at": None,
        "created_at": at,
    }


def ignored(connection_id: str, at: int, detail: str = "TypeError: boom") -> dict[str, Any]:
    return {
        "ignored_id": new_id("ign", at),
        "request_id": new_id("req", at),
        "team_id": TEAM,
        "source_id": "src_1",
        "connection_id": connection_id,
        "cause": "TRANSFORMATION_FAILED",
        "detail": detail,
        "created_at": at,
    }
