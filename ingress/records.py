"""Pure builders of the ingress's records and answers."""

from __future__ import annotations

import json
from collections.abc import Iterable

from ingress.sources import Source
from ingress.verification import Verification
from schemas.providers import provider_view
from schemas.records import Header, RequestReceived

ACCEPTED = "accepted"
# Stands for a source credential's value: the header's name and place stay as evidence.
REDACTED = "[REDACTED]"
REJECTED = "rejected"

REJECTION_STATUS = {
    "METHOD_NOT_ALLOWED": 405,
    "VERIFICATION_FAILED": 401,
    "SOURCE_DISABLED": 410,
    "BODY_TOO_LARGE": 413,
}
REJECTION_MESSAGE = {
    "METHOD_NOT_ALLOWED": "This source does not accept this HTTP method.",
    "VERIFICATION_FAILED": "The request failed the source's authentication.",
    "SOURCE_DISABLED": "This source is disabled.",
    "BODY_TOO_LARGE": "The request body is over the size limit.",
}


def longest_header_line(raw_headers: Iterable[tuple[bytes, bytes]]) -> int:
    """Length of the longest `Name: value` line: the unit of schemas.limits.MAX_HEADER_BYTES."""
    return max((len(name) + 2 + len(value) for name, value in raw_headers), default=0)


def redact(headers: list[Header], name: str | None) -> list[Header]:
    """`headers` with every value of header `name` (any case) replaced by REDACTED."""
    if name is None:
        return headers
    wanted = name.lower()
    return [
        {"name": h["name"], "value": REDACTED, "raw": None} if h["name"].lower() == wanted else h
        for h in headers
    ]


def header_pairs(headers: list[Header]) -> tuple[tuple[str, str], ...]:
    return tuple((h["name"], h["value"]) for h in headers)


def split_target(raw_target: str, token: str) -> tuple[str, str]:
    """`/tok/twilio/status?x=1` → (`/twilio/status`, `x=1`), bytes of the query untouched."""
    path, _, query = raw_target.partition("?")
    prefix = f"/{token}"
    return (path[len(prefix) :] if path.startswith(prefix) else path), query


def request_record(
    *,
    request_id: str,
    source: Source,
    received_at_ms: int,
    method: str,
    path: str,
    query: str,
    public_url: str,
    headers: list[Header],
    body: bytes,
    body_size: int,
    client_ip: str | None,
    verification: Verification,
    rejection_cause: str | None = None,
) -> RequestReceived:
    event_type, idempotency_key = provider_view(headers, body)
    return {
        "request_id": request_id,
        "team_id": source.team_id,
        "source_id": source.id,
        "received_at": received_at_ms,
        "method": method,
        "path": path,
        "query": query,
        "public_url": public_url,
        "headers": headers,
        "body": body,
        "body_size": body_size,
        "client_ip": client_ip,
        "verification": {
            "method": verification.method,
            "verified": verification.verified,
            "detail": verification.detail,
        },
        "status": REJECTED if rejection_cause else ACCEPTED,
        "rejection_cause": rejection_cause,
        "replay_of": None,
        "connection_ids": None,
        "event_type": event_type,
        "idempotency_key": idempotency_key,
    }


def default_accepted_body(request_id: str) -> bytes:
    return json.dumps(
        {
            "status": "SUCCESS",
            "message": "Request handled by FastHook",
            "request_id": request_id,
        }
    ).encode()


# The default 200's body around its request id (an id needs no JSON escaping): every accepted
# request is answered, and a dump per answer was a measurable part of the handler.
_ACCEPTED_HEAD, _ACCEPTED_TAIL = default_accepted_body("<id>").split(b"<id>")


def accepted_answer(source: Source, request_id: str) -> tuple[str, bytes]:
    """(content type, body) of a 200: the source's custom response or a default JSON body."""
    if source.custom_response is not None:
        return source.custom_response.content_type, source.custom_response.body.encode()
    return "application/json", _ACCEPTED_HEAD + request_id.encode() + _ACCEPTED_TAIL


def rejection_answer(cause: str, request_id: str) -> tuple[int, bytes]:
    body = {
        "status": "REJECTED",
        "cause": cause,
        "message": REJECTION_MESSAGE[cause],
        "request_id": request_id,
    }
    return REJECTION_STATUS[cause], json.dumps(body).encode()
