"""Records → table rows. Pure: no I/O, the same record always gives the same rows, which is
what lets a replay converge (ReplacingMergeTree keeps one row per key).

Times stay unix milliseconds (ClickHouse reads them into DateTime64(3)). `search` is the
lower-cased text `q` searches: ids, path, query (raw and decoded), header values, body text
(UTF-8 with replacement; a form body also decoded), capped so one huge body cannot bloat the
index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import unquote_plus

from schemas.codec import Record
from schemas.ids import id_time_ms
from schemas.records import (
    AttemptRecorded,
    ConfigChanged,
    EventCreated,
    EventIgnored,
    Header,
    IssueChanged,
    RequestReceived,
)

# A table's row by column name: what the projector inserts and what a query answers.
Row = dict[str, Any]
SEARCH_MAX_CHARS = 1_000_000
FORM = "application/x-www-form-urlencoded"

REQUEST_COLUMNS = (
    "team_id",
    "request_id",
    "source_id",
    "received_at",
    "method",
    "path",
    "query",
    "public_url",
    "headers",
    "header_raw",
    "content_type",
    "body",
    "body_size",
    "client_ip",
    "verification_method",
    "verified",
    "verification_detail",
    "status",
    "rejection_cause",
    "replay_of",
    "connection_ids",
    "event_type",
    "idempotency_key",
    "search",
)
EVENT_LOG_COLUMNS = (
    "team_id",
    "event_id",
    "event_time",
    "request_id",
    "source_id",
    "connection_id",
    "destination_id",
    "fact",
    "fact_key",
    "at",
    "rank",
    "state",
    "trigger",
    "attempt_number",
    "attempt_id",
    "outcome_status",
    "outcome_error",
    "next_due_at",
    "event_created_at",
)
EVENT_DATA_COLUMNS = (
    "team_id",
    "event_id",
    "event_time",
    "request_id",
    "source_id",
    "connection_id",
    "destination_id",
    "source_url",
    "method",
    "path",
    "query",
    "headers",
    "header_raw",
    "content_type",
    "body",
    "search",
)
ATTEMPT_COLUMNS = (
    "team_id",
    "attempt_id",
    "event_id",
    "request_id",
    "source_id",
    "connection_id",
    "destination_id",
    "attempt_number",
    "trigger",
    "status",
    "requested_url",
    "http_method",
    "request_headers",
    "response_status",
    "response_headers",
    "response_body",
    "response_latency_ms",
    "error_code",
    "event_status",
    "next_attempt_at",
    "created_at",
)
IGNORED_COLUMNS = (
    "team_id",
    "ignored_id",
    "request_id",
    "source_id",
    "connection_id",
    "cause",
    "detail",
    "created_at",
)
CONFIG_COLUMNS = (
    "entity_id",
    "entity_type",
    "team_id",
    "version",
    "changed_at",
    "entity",
    "offset",
    "is_deleted",
)
ISSUE_COLUMNS = (
    "team_id",
    "issue_id",
    "type",
    "status",
    "issue_trigger_id",
    "connection_id",
    "destination_id",
    "source_id",
    "response_status",
    "error_code",
    "count",
    "first_seen_at",
    "last_seen_at",
    "opened_at",
    "resolved_at",
    "updated_at",
    "sample_event_ids",
    "sample_request_ids",
    "detail",
    "paused_at",
    "version",
)
ISSUE_CHANGE_COLUMNS = (
    "team_id",
    "issue_id",
    "version",
    "actor",
    "change",
    "status",
    "count",
    "changed_at",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    "requests": REQUEST_COLUMNS,
    "event_log": EVENT_LOG_COLUMNS,
    "event_data": EVENT_DATA_COLUMNS,
    "attempts": ATTEMPT_COLUMNS,
    "ignored_events": IGNORED_COLUMNS,
    "config": CONFIG_COLUMNS,
    "issues": ISSUE_COLUMNS,
    "issue_changes": ISSUE_CHANGE_COLUMNS,
}

# Ties on `at` go to the later kind of fact: an attempt recorded in the same millisecond as
# the retry it scheduled describes the event better than the retry.
RANK = {"CREATED": 1, "HELD": 2, "ATTEMPT": 3}


def header_columns(headers: list[Header]) -> tuple[list[tuple[str, str]], list[bytes]]:
    pairs = [(h["name"], h["value"]) for h in headers]
    raw = [h.get("raw") or b"" for h in headers]
    return pairs, raw


def content_type(headers: list[Header]) -> str:
    return next((h["value"] for h in headers if h["name"].lower() == "content-type"), "")


def body_text(body: bytes, ctype: str) -> str:
    text = body.decode("utf-8", "replace")
    if ctype.split(";", 1)[0].strip().lower() == FORM:
        # So `q=+18005551212` finds `To=%2B18005551212`.
        decoded = unquote_plus(text, errors="replace")
        if decoded != text:
            text = f"{text}\n{decoded}"
    return text


def search_text(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p).lower()[:SEARCH_MAX_CHARS]


def _query_text(query: str) -> str:
    decoded = unquote_plus(query, errors="replace")
    return query if decoded == query else f"{query}\n{decoded}"


def request_row(r: RequestReceived) -> Row:
    headers, raw = header_columns(r["headers"])
    ctype = content_type(r["headers"])
    verification = r["verification"]
    return {
        "team_id": r["team_id"],
        "request_id": r["request_id"],
        "source_id": r["source_id"],
        "received_at": r["received_at"],
        "method": r["method"],
        "path": r["path"],
        "query": r["query"],
        "public_url": r["public_url"],
        "headers": headers,
        "header_raw": raw,
        "content_type": ctype,
        "body": r["body"],
        "body_size": r["body_size"],
        "client_ip": r.get("client_ip"),
        "verification_method": verification["method"],
        "verified": verification["verified"],
        "verification_detail": verification.get("detail"),
        "status": r["status"],
        "rejection_cause": r.get("rejection_cause"),
        "replay_of": r.get("replay_of"),
        "connection_ids": (
            json.dumps(r["connection_ids"]) if r.get("connection_ids") is not None else None
        ),
        "event_type": r.get("event_type"),
        "idempotency_key": r.get("idempotency_key"),
        "search": search_text(
            r["request_id"],
            r["source_id"],
            r.get("replay_of"),
            r.get("event_type"),
            r.get("idempotency_key"),
            r["method"],
            r["path"],
            _query_text(r["query"]),
            *(v for _, v in headers),
            body_text(r["body"], ctype),
        ),
    }


def _event_ids(e: EventCreated) -> Row:
    return {
        "team_id": e["team_id"],
        "event_id": e["event_id"],
        "event_time": id_time_ms(e["event_id"], e["created_at"]),
        "request_id": e["request_id"],
        "source_id": e["source_id"],
        "connection_id": e["connection_id"],
        "destination_id": e["destination_id"],
    }


def event_created_rows(e: EventCreated) -> list[tuple[str, Row]]:
    """An EventCreated on the events topic: new, or re-queued (retry, manual, unpause)."""
    unpaused = e["trigger"] == "UNPAUSE"
    # A released event keeps its creation time; its fact happened when it was released.
    at = e["due_at"] if unpaused else e["created_at"]
    state = "SCHEDULED" if not unpaused and e["due_at"] > e["created_at"] else "QUEUED"
    fact = {
        **_event_ids(e),
        "fact": "CREATED",
        "fact_key": f"created:{e['attempt_number']}:{e['trigger']}:{e['created_at']}:{e['due_at']}",
        "at": at,
        "rank": RANK["CREATED"],
        "state": state,
        "trigger": e["trigger"],
        "attempt_number": e["attempt_number"],
        "attempt_id": "",
        "outcome_status": None,
        "outcome_error": None,
        "next_due_at": e["due_at"],
        "event_created_at": e["created_at"],
    }
    return [("event_log", fact), ("event_data", event_data_row(e))]


def event_held_rows(e: EventCreated, timestamp_ms: int) -> list[tuple[str, Row]]:
    """An EventCreated on the held topic: its connection is paused. The record keeps the
    event's times, so when it was held is the broker timestamp of the held record."""
    at = timestamp_ms if timestamp_ms and timestamp_ms > 0 else e["created_at"]
    fact = {
        **_event_ids(e),
        "fact": "HELD",
        "fact_key": f"held:{e['attempt_number']}:{e['trigger']}:{e['created_at']}",
        "at": at,
        "rank": RANK["HELD"],
        "state": "HOLD",
        "trigger": e["trigger"],
        "attempt_number": e["attempt_number"],
        "attempt_id": "",
        "outcome_status": None,
        "outcome_error": None,
        "next_due_at": None,
        "event_created_at": e["created_at"],
    }
    return [("event_log", fact), ("event_data", event_data_row(e))]


def event_data_row(e: EventCreated) -> Row:
    request = e["request"]
    headers, raw = header_columns(request["headers"])
    ctype = content_type(request["headers"])
    return {
        **_event_ids(e),
        "source_url": e["source_url"],
        "method": request["method"],
        "path": request["path"],
        "query": request["query"],
        "headers": headers,
        "header_raw": raw,
        "content_type": ctype,
        "body": request["body"],
        "search": search_text(
            e["event_id"],
            e["request_id"],
            e["source_id"],
            e["connection_id"],
            e["destination_id"],
            request["method"],
            request["path"],
            _query_text(request["query"]),
            *(v for _, v in headers),
            body_text(request["body"], ctype),
        ),
    }


def attempt_rows(a: AttemptRecorded) -> list[tuple[str, Row]]:
    """An attempt, and the event's state after it: its event_status (SUCCESSFUL, SCHEDULED,
    FAILED, or CANCELLED when the deliverer found the connection or destination disabled or
    deleted instead of calling it)."""
    attempt = {
        "team_id": a["team_id"],
        "attempt_id": a["attempt_id"],
        "event_id": a["event_id"],
        "request_id": a["request_id"],
        "source_id": a["source_id"],
        "connection_id": a["connection_id"],
        "destination_id": a["destination_id"],
        "attempt_number": a["attempt_number"],
        "trigger": a["trigger"],
        "status": a["status"],
        "requested_url": a["requested_url"],
        "http_method": a["http_method"],
        "request_headers": header_columns(a["request_headers"])[0],
        "response_status": a.get("response_status"),
        "response_headers": header_columns(a.get("response_headers") or [])[0],
        "response_body": a.get("response_body") or b"",
        "response_latency_ms": a.get("response_latency_ms"),
        "error_code": a.get("error_code"),
        "event_status": a["event_status"],
        "next_attempt_at": a.get("next_attempt_at"),
        "created_at": a["created_at"],
    }
    fact = {
        "team_id": a["team_id"],
        "event_id": a["event_id"],
        "event_time": id_time_ms(a["event_id"], a["created_at"]),
        "request_id": a["request_id"],
        "source_id": a["source_id"],
        "connection_id": a["connection_id"],
        "destination_id": a["destination_id"],
        "fact": "ATTEMPT",
        "fact_key": f"attempt:{a['attempt_id']}",
        "at": a["created_at"],
        "rank": RANK["ATTEMPT"],
        "state": a["event_status"],
        "trigger": a["trigger"],
        "attempt_number": a["attempt_number"],
        "attempt_id": a["attempt_id"],
        "outcome_status": a.get("response_status"),
        "outcome_error": a.get("error_code"),
        "next_due_at": a.get("next_attempt_at"),
        "event_created_at": a["created_at"],
    }
    return [("attempts", attempt), ("event_log", fact)]


def ignored_row(i: EventIgnored) -> Row:
    return {
        "team_id": i["team_id"],
        "ignored_id": i["ignored_id"],
        "request_id": i["request_id"],
        "source_id": i["source_id"],
        "connection_id": i.get("connection_id"),
        "cause": i["cause"],
        "detail": i.get("detail"),
        "created_at": i["created_at"],
    }


def config_row(entity_id: str, record: ConfigChanged | None, offset: int) -> Row:
    """A config state, or a tombstone (record None): ordered by topic offset."""
    if record is None:
        return {
            "entity_id": entity_id,
            "entity_type": "",
            "team_id": "",
            "version": -1,
            "changed_at": 0,
            "entity": "",
            "offset": offset,
            "is_deleted": 1,
        }
    return {
        "entity_id": record["entity_id"] or entity_id,
        "entity_type": record["entity_type"],
        "team_id": record.get("team_id") or "",
        "version": record["version"],
        "changed_at": record["changed_at"],
        "entity": record["entity"],
        "offset": offset,
        "is_deleted": 0,
    }


def issue_rows(changed: IssueChanged) -> list[tuple[str, Row]]:
    """IssueOpened / IssueUpdated / IssueResolved: each carries the whole issue."""
    issue: Mapping[str, Any] = changed["issue"]
    return [
        ("issues", {c: issue[c] for c in ISSUE_COLUMNS}),
        (
            "issue_changes",
            {
                **{c: issue[c] for c in ISSUE_CHANGE_COLUMNS[:3]},
                "actor": changed["actor"],
                "change": changed["change"],
                "status": issue["status"],
                "count": issue["count"],
                "changed_at": changed["changed_at"],
            },
        ),
    ]


def project(
    kind: str, key: str, record: Record | None, timestamp_ms: int, offset: int
) -> list[tuple[str, Row]]:
    """The rows one topic record becomes; `kind` is the topic suffix. The record is typed by
    its topic's schema (`cast`: the codec read it against that schema; a record of another
    kind fails on a missing field, which the projector counts and skips)."""
    if kind == "config":
        return [("config", config_row(key, cast("ConfigChanged | None", record), offset))]
    if record is None:
        return []  # only the config topic has tombstones
    if kind == "requests":
        return [("requests", request_row(cast(RequestReceived, record)))]
    if kind == "events":
        return event_created_rows(cast(EventCreated, record))
    if kind == "held":
        return event_held_rows(cast(EventCreated, record), timestamp_ms)
    if kind == "attempts":
        return attempt_rows(cast(AttemptRecorded, record))
    if kind == "ignored":
        return [("ignored_events", ignored_row(cast(EventIgnored, record)))]
    if kind == "issues":
        return issue_rows(cast(IssueChanged, record))
    raise ValueError(f"no projection for topic kind {kind!r}")


def as_tuple(table: str, row: Row) -> tuple[Any, ...]:
    return tuple(row[c] for c in COLUMNS[table])
