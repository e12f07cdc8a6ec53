"""Query rows → the JSON models of API.md, and stored rows → records to publish again.

Pure. Times come from ClickHouse as unix milliseconds and leave as RFC 3339 UTC with
milliseconds. `data.body` is how a person reads a body (JSON → value, form → object of
strings, else text); the exact bytes are only ever served by `raw_body` and re-published by a
retry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from schemas.providers import provider_view

FORM = "application/x-www-form-urlencoded"


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _pair(header: Any) -> tuple[str, str]:
    if isinstance(header, dict):
        return header["name"], header["value"]
    return header[0], header[1]


def headers_object(headers: list[Any]) -> dict[str, str]:
    """Headers as an object, names as received; a repeated header's values joined by ', '
    (what HTTP says they mean)."""
    out: dict[str, str] = {}
    for header in headers:
        name, value = _pair(header)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def parse_form(raw: bytes) -> dict[str, str | list[str]]:
    """`a=1&b=&a=2` → {"a": ["1", "2"], "b": ""}: blanks kept, repeats become lists."""
    out: dict[str, str | list[str]] = {}
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name_raw, _, value_raw = pair.partition(b"=")
        name = unquote_to_bytes(name_raw.replace(b"+", b" ")).decode("utf-8", "replace")
        value = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode("utf-8", "replace")
        previous = out.get(name)
        if previous is None:
            out[name] = value
        elif isinstance(previous, list):
            previous.append(value)
        else:
            out[name] = [previous, value]
    return out


def body_view(body: bytes, content_type: str) -> Any:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(body.decode("utf-8-sig"))
        except (ValueError, RecursionError):
            pass
    elif media == FORM:
        return parse_form(body)
    return body.decode("utf-8", "replace")


def data_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": row["method"], "path": row["path"], "query": row["query"],
        "parsed_query": parse_form(row["query"].encode("utf-8", "surrogateescape")),
        "headers": headers_object(row["headers"]),
        "body": body_view(row["body"], row["content_type"]),
    }


def request_model(row: dict[str, Any], counts: dict[str, int] | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {
        "id": row["id"], "source_id": row["source_id"], "status": row["status"],
        "rejection_cause": row["rejection_cause"],
        "verification": {"method": row["verification_method"], "verified": row["verified"],
                         "detail": row["verification_detail"]},
        "replay_of": row["replay_of"], "event_type": row["event_type"],
        "idempotency_key": row["idempotency_key"], "created_at": iso(row["created_ms"]),
    }
    if counts is not None:
        model["events_count"] = counts.get("events_count", 0)
        model["ignored_count"] = counts.get("ignored_count", 0)
    if "body" in row:
        model["data"] = data_view(row)
    return model


def event_model(row: dict[str, Any], data: dict[str, Any] | None = None,
                include_data: bool = False) -> dict[str, Any]:
    model = {
        "id": row["id"], "request_id": row["request_id"], "source_id": row["source_id"],
        "connection_id": row["connection_id"], "destination_id": row["destination_id"],
        "status": row["status"], "attempts": row["attempts"],
        "response_status": row["response_status"], "error_code": row["error_code"],
        "last_attempt_at": iso(row["last_attempt_ms"]),
        "next_attempt_at": iso(row["next_attempt_ms"]) if row["status"] in (
            "QUEUED", "SCHEDULED") else None,
        "successful_at": iso(row["successful_ms"]), "created_at": iso(row["created_ms"]),
    }
    if include_data:
        model["data"] = data_view(data) if data is not None else None
    return model


def attempt_model(row: dict[str, Any]) -> dict[str, Any]:
    model = {
        "id": row["id"], "event_id": row["event_id"], "attempt_number": row["attempt_number"],
        "trigger": row["trigger"], "status": row["status"],
        "requested_url": row["requested_url"], "http_method": row["http_method"],
        "response_status": row["response_status"],
        "response_latency_ms": row["response_latency_ms"], "error_code": row["error_code"],
        "created_at": iso(row["created_ms"]),
    }
    if "response_body" in row:
        model["body"] = row["response_body"].decode("utf-8", "replace")
    if "response_headers" in row:
        model["response_headers"] = headers_object(row["response_headers"])
    return model


def ignored_model(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "request_id": row["request_id"], "source_id": row["source_id"],
        "connection_id": row["connection_id"], "cause": row["cause"], "detail": row["detail"],
        "created_at": iso(row["created_ms"]),
    }


# --- records to publish again -----------------------------------------------------------------
def header_records(headers: list[Any], raw: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for i, header in enumerate(headers):
        name, value = _pair(header)
        exact = raw[i] if i < len(raw) and raw[i] else None
        out.append({"name": name, "value": value, "raw": exact})
    return out


def manual_event(row: dict[str, Any], attempts: int, now_ms: int, trigger: str = "MANUAL",
                 bulk_id: str | None = None) -> dict[str, Any]:
    """An EventCreated for one more attempt of a stored event, due now."""
    return {
        "event_id": row["event_id"], "request_id": row["request_id"], "team_id": row["team_id"],
        "source_id": row["source_id"], "connection_id": row["connection_id"],
        "destination_id": row["destination_id"], "created_at": now_ms, "due_at": now_ms,
        "attempt_number": attempts + 1, "trigger": trigger, "source_url": row["source_url"],
        "request": {
            "method": row["method"], "path": row["path"], "query": row["query"],
            "headers": header_records(row["headers"], row["header_raw"]), "body": row["body"],
        },
        "bulk_id": bulk_id,
    }


def replayed_request(row: dict[str, Any], request_id: str, now_ms: int,
                     connection_ids: list[str] | None) -> dict[str, Any]:
    """The stored RequestReceived under a new id, replaying the original."""
    headers = header_records(row["headers"], row["header_raw"])
    event_type, idempotency_key = row["event_type"], row["idempotency_key"]
    if event_type is None and idempotency_key is None:
        # Stored before the ingress kept them (or the provider named none): read them now.
        event_type, idempotency_key = provider_view(headers, row["body"])
    return {
        "request_id": request_id, "team_id": row["team_id"], "source_id": row["source_id"],
        "received_at": now_ms, "method": row["method"], "path": row["path"],
        "query": row["query"], "public_url": row["public_url"],
        "headers": headers, "body": row["body"],
        "body_size": row["body_size"], "client_ip": row["client_ip"],
        "verification": {"method": row["verification_method"], "verified": row["verified"],
                         "detail": row["verification_detail"]},
        "status": row["status"], "rejection_cause": row["rejection_cause"],
        "replay_of": row["request_id"], "connection_ids": connection_ids,
        # What the provider named stays with the replay: rules on them route it alike.
        "event_type": event_type, "idempotency_key": idempotency_key,
    }
