"""The records on the topics as a reader gets them from the codec: every field present (Avro
fills the defaults), `None` where the schema allows null. One TypedDict per schema in `avro/`;
tests/schemas/test_records.py holds each to its schema, field by field.

A reader types what it decoded by the name it decoded it under (`typing.cast`: the codec has
already checked the bytes against the very schema these mirror).
"""

from __future__ import annotations

from typing import TypedDict


class Header(TypedDict):
    name: str
    value: str
    raw: bytes | None  # the exact bytes, only where they are not UTF-8


class Verification(TypedDict):
    method: str
    verified: bool
    detail: str | None


class RequestReceived(TypedDict):
    request_id: str
    team_id: str
    source_id: str
    received_at: int
    method: str
    path: str
    query: str
    public_url: str
    headers: list[Header]
    body: bytes
    body_size: int
    client_ip: str | None
    verification: Verification
    status: str
    rejection_cause: str | None
    replay_of: str | None
    connection_ids: list[str] | None
    event_type: str | None
    idempotency_key: str | None


class OutgoingRequest(TypedDict):
    method: str
    path: str
    query: str
    headers: list[Header]
    body: bytes


class _Delivery(TypedDict):
    """The ids an event and each of its attempts carry."""

    event_id: str
    request_id: str
    team_id: str
    source_id: str
    connection_id: str
    destination_id: str


class EventCreated(_Delivery):
    created_at: int
    due_at: int
    attempt_number: int
    trigger: str
    source_url: str
    request: OutgoingRequest
    bulk_id: str | None


class AttemptRecorded(_Delivery):
    attempt_id: str
    attempt_number: int
    trigger: str
    status: str
    requested_url: str
    http_method: str
    request_headers: list[Header]
    response_status: int | None
    response_headers: list[Header]
    response_body: bytes
    response_latency_ms: int | None
    error_code: str | None
    event_status: str
    next_attempt_at: int | None
    created_at: int


class EventIgnored(TypedDict):
    ignored_id: str
    request_id: str
    team_id: str
    source_id: str
    connection_id: str | None
    cause: str
    detail: str | None
    created_at: int


class IssueState(TypedDict):
    issue_id: str
    team_id: str
    type: str
    status: str
    issue_trigger_id: str
    connection_id: str | None
    destination_id: str | None
    source_id: str | None
    response_status: int | None
    error_code: str | None
    count: int
    first_seen_at: int
    last_seen_at: int
    opened_at: int
    resolved_at: int | None
    updated_at: int
    sample_event_ids: list[str]
    sample_request_ids: list[str]
    detail: str | None
    paused_at: int | None
    version: int


class IssueChanged(TypedDict):
    """`IssueOpened`, `IssueUpdated` and `IssueResolved`: each carries the whole issue."""

    issue: IssueState
    change: str
    actor: str
    changed_at: int


class ConfigChanged(TypedDict):
    entity_type: str
    entity_id: str
    team_id: str | None
    version: int
    changed_at: int
    entity: str  # the entity's JSON (schemas.entities: its shape by entity_type)
