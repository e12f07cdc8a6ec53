"""Query rows → the JSON models of API.md, and stored rows → records to publish again.

Pure. Times come from ClickHouse as unix milliseconds and leave as RFC 3339 UTC with
milliseconds. `data.body` is how a person reads a body, the very value a connection filter
saw (`schemas.bodies.body_view`: JSON → value, form → object of strings, else text); the exact
bytes are only ever served by `raw_body` and re-published by a retry.
"""

from __future__ import annotations

from typing import Any

from schemas.bodies import body_view, parse_query
from schemas.headers import header_record
from schemas.providers import provider_view
from schemas.records import EventCreated, Header, RequestReceived
from schemas.times import iso_or_none as iso


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


def data_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": row["method"],
        "path": row["path"],
        "query": row["query"],
        "parsed_query": parse_query(row["query"]),
        "headers": headers_object(row["headers"]),
        "body": body_view(row["body"], row["content_type"]),
    }


def request_model(row: dict[str, Any], counts: dict[str, int] | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {
        "id": row["id"],
        "source_id": row["source_id"],
        "status": row["status"],
        "rejection_cause": row["rejection_cause"],
        "verification": {
            "method": row["verification_method"],
            "verified": row["verified"],
            "detail": row["verification_detail"],
        },
        "replay_of": row["replay_of"],
        "event_type": row["event_type"],
        "idempotency_key": row["idempotency_key"],
        "created_at": iso(row["created_ms"]),
    }
    if counts is not None:
        model["events_count"] = counts.get("events_count", 0)
        model["ignored_count"] = counts.get("ignored_count", 0)
    if "body" in row:
        model["data"] = data_view(row)
    return model


def event_model(
    row: dict[str, Any], data: dict[str, Any] | None = None, include_data: bool = False
) -> dict[str, Any]:
    model = {
        "id": row["id"],
        "request_id": row["request_id"],
        "source_id": row["source_id"],
        "connection_id": row["connection_id"],
        "destination_id": row["destination_id"],
        "status": row["status"],
        "attempts": row["attempts"],
        "response_status": row["response_status"],
        "error_code": row["error_code"],
        "last_attempt_at": iso(row["last_attempt_ms"]),
        "next_attempt_at": iso(row["next_attempt_ms"])
        if row["status"] in ("QUEUED", "SCHEDULED")
        else None,
        "successful_at": iso(row["successful_ms"]),
        "created_at": iso(row["created_ms"]),
    }
    if include_data:
        model["data"] = data_view(data) if data is not None else None
    return model


def attempt_model(row: dict[str, Any]) -> dict[str, Any]:
    model = {
        "id": row["id"],
        "event_id": row["event_id"],
        "attempt_number": row["attempt_number"],
        "trigger": row["trigger"],
        "status": row["status"],
        "requested_url": row["requested_url"],
        "http_method": row["http_method"],
        "response_status": row["response_status"],
        "response_latency_ms": row["response_latency_ms"],
        "error_code": row["error_code"],
        "created_at": iso(row["created_ms"]),
    }
    if "response_body" in row:
        model["body"] = row["response_body"].decode("utf-8", "replace")
    if "response_headers" in row:
        model["response_headers"] = headers_object(row["response_headers"])
    return model


def ignored_model(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "request_id": row["request_id"],
        "source_id": row["source_id"],
        "connection_id": row["connection_id"],
        "cause": row["cause"],
        "detail": row["detail"],
        "created_at": iso(row["created_ms"]),
    }


# --- records to publish again -----------------------------------------------------------------
def stored_header_records(headers: list[Any], raw: list[bytes]) -> list[Header]:
    """Stored header columns → header records: the exact bytes where they were kept."""
    return [
        header_record(name, raw[i] if i < len(raw) and raw[i] else value)
        for i, (name, value) in enumerate(map(_pair, headers))
    ]


def manual_event(
    row: dict[str, Any],
    attempts: int,
    now_ms: int,
    trigger: str = "MANUAL",
    bulk_id: str | None = None,
) -> EventCreated:
    """An EventCreated for one more attempt of a stored event, due now."""
    return {
        "event_id": row["event_id"],
        "request_id": row["request_id"],
        "team_id": row["team_id"],
        "source_id": row["source_id"],
        "connection_id": row["connection_id"],
        "destination_id": row["destination_id"],
        "created_at": now_ms,
        "due_at": now_ms,
        "attempt_number": attempts + 1,
        "trigger": trigger,
        "source_url": row["source_url"],
        "request": {
            "method": row["method"],
            "path": row["path"],
            "query": row["query"],
            "headers": stored_header_records(row["headers"], row["header_raw"]),
            "body": row["body"],
        },
        "bulk_id": bulk_id,
    }


def replayed_request(
    row: dict[str, Any], request_id: str, now_ms: int, connection_ids: list[str] | None
) -> RequestReceived:
    """The stored RequestReceived under a new id, replaying the original."""
    headers = stored_header_records(row["headers"], row["header_raw"])
    event_type, idempotency_key = row["event_type"], row["idempotency_key"]
    if event_type is None and idempotency_key is None:
        # Stored before the ingress kept them (or the provider named none): read them now.
        event_type, idempotency_key = provider_view(headers, row["body"])
    return {
        "request_id": request_id,
        "team_id": row["team_id"],
        "source_id": row["source_id"],
        "received_at": now_ms,
        "method": row["method"],
        "path": row["path"],
        "query": row["query"],
        "public_url": row["public_url"],
        "headers": headers,
        "body": row["body"],
        "body_size": row["body_size"],
        "client_ip": row["client_ip"],
        "verification": {
            "method": row["verification_method"],
            "verified": row["verified"],
            "detail": row["verification_detail"],
        },
        "status": row["status"],
        "rejection_cause": row["rejection_cause"],
        "replay_of": row["request_id"],
        "connection_ids": connection_ids,
        # What the provider named stays with the replay: rules on them route it alike.
        "event_type": event_type,
        "idempotency_key": idempotency_key,
    }
