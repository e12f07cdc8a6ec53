"""Records as the services write them, for the projections to read."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaProducer

from runtime.settings import Settings
from schemas.codec import encode
from schemas.ids import new_id

FORM = [{"name": "Content-Type", "value": "application/x-www-form-urlencoded", "raw": None}]
GUIDE_BODY = (
    b"MessageSid=SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&MessageStatus=delivered"
    b"&SmsStatus=delivered&To=%2B18005551212&From=%2B18005550199"
    b"&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&ErrorCode="
)


def now_ms() -> int:
    return int(time.time() * 1000)


def request_record(
    team_id: str,
    source_id: str,
    body: bytes = GUIDE_BODY,
    *,
    status: str = "accepted",
    cause: str | None = None,
    headers: list[dict[str, Any]] | None = None,
    query: str = "",
    at: int | None = None,
) -> dict[str, Any]:
    at = at or now_ms()
    return {
        "request_id": new_id("req", at),
        "team_id": team_id,
        "source_id": source_id,
        "received_at": at,
        "method": "POST",
        "path": "/twilio/status",
        "query": query,
        "public_url": "https://hooks.example.com/tok/twilio/status",
        "headers": headers
        if headers is not None
        else [*FORM, {"name": "X-Twilio-Signature", "value": "c2lnbmF0dXJl", "raw": None}],
        "body": body,
        "body_size": len(body),
        "client_ip": "127.0.0.1",
        "verification": {"method": "TWILIO", "verified": status == "accepted", "detail": None},
        "status": status,
        "rejection_cause": cause,
        "replay_of": None,
        "connection_ids": None,
    }


def event_record(
    request: dict[str, Any],
    connection_id: str = "con_1",
    destination_id: str = "des_1",
    *,
    delay_ms: int = 0,
    trigger: str = "INITIAL",
    attempt_number: int = 1,
    at: int | None = None,
) -> dict[str, Any]:
    at = at or now_ms()
    return {
        "event_id": new_id("evt", request["received_at"]),
        "request_id": request["request_id"],
        "team_id": request["team_id"],
        "source_id": request["source_id"],
        "connection_id": connection_id,
        "destination_id": destination_id,
        "created_at": at,
        "due_at": at + delay_ms,
        "attempt_number": attempt_number,
        "trigger": trigger,
        "source_url": request["public_url"],
        "request": {
            "method": request["method"],
            "path": request["path"],
            "query": request["query"],
            "headers": request["headers"],
            "body": request["body"],
        },
        "bulk_id": None,
    }


def attempt_record(
    event: dict[str, Any],
    *,
    status: int | None = 500,
    error_code: str | None = None,
    event_status: str = "FAILED",
    attempt_number: int | None = None,
    next_attempt_at: int | None = None,
    at: int | None = None,
    trigger: str | None = None,
) -> dict[str, Any]:
    at = at or now_ms()
    ok = status is not None and 200 <= status < 300
    return {
        "attempt_id": new_id("atm", at),
        "event_id": event["event_id"],
        "request_id": event["request_id"],
        "team_id": event["team_id"],
        "source_id": event["source_id"],
        "connection_id": event["connection_id"],
        "destination_id": event["destination_id"],
        "attempt_number": attempt_number or event["attempt_number"],
        "trigger": trigger or event["trigger"],
        "status": "SUCCESSFUL" if ok else "FAILED",
        "requested_url": "http://127.0.0.1:9/hook",
        "http_method": "POST",
        "request_headers": [
            {"name": "x-fasthook-event-id", "value": event["event_id"], "raw": None}
        ],
        "response_status": status,
        "response_headers": [],
        "response_body": b"upstream says no" if not ok else b"ok",
        "response_latency_ms": 12,
        "error_code": error_code,
        "event_status": event_status,
        "next_attempt_at": next_attempt_at,
        "created_at": at,
    }


def ignored_record(
    request: dict[str, Any], connection_id: str = "con_1", cause: str = "FILTERED"
) -> dict[str, Any]:
    return {
        "ignored_id": new_id("ign", request["received_at"]),
        "request_id": request["request_id"],
        "team_id": request["team_id"],
        "source_id": request["source_id"],
        "connection_id": connection_id,
        "cause": cause,
        "detail": "rules[0] did not match",
        "created_at": now_ms(),
    }


NAMES = {
    "requests": "RequestReceived",
    "events": "EventCreated",
    "held": "EventCreated",
    "attempts": "AttemptRecorded",
    "ignored": "EventIgnored",
}
KEYS = {
    "requests": "request_id",
    "events": "event_id",
    "held": "connection_id",
    "attempts": "event_id",
    "ignored": "request_id",
}


async def publish(
    producer: AIOKafkaProducer, settings: Settings, kind: str, records: list[dict[str, Any]]
) -> None:
    topic = f"{settings.topic_namespace}.{kind}"
    sends = [
        await producer.send(topic, encode(NAMES[kind], r), key=r[KEYS[kind]].encode())
        for r in records
    ]
    for sent in sends:
        await sent
