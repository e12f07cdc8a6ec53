"""The guide's queries against records on the real broker, projected into the real engine."""

from __future__ import annotations

import time

from schemas.paging import encode_cursor
from tests.projections.conftest import TEAM, Service
from tests.projections.records import (
    GUIDE_BODY,
    attempt_record,
    event_record,
    ignored_record,
    now_ms,
    publish,
    request_record,
)
from tests.support.kafka import read_topic
from tests.support.poll import eventually

SOURCE = "src_twilio_status"


async def test_guide_queries(service: Service, producer) -> None:
    settings = service.settings
    began = time.monotonic()
    accepted = request_record(TEAM, SOURCE)
    other = request_record(TEAM, SOURCE, b"MessageSid=SMbbbb&MessageStatus=sent")
    rejected = request_record(TEAM, SOURCE, status="rejected", cause="VERIFICATION_FAILED")
    foreign = request_record("tm_other", SOURCE)
    await publish(producer, settings, "requests", [accepted, other, rejected, foreign])
    models = await service.wait_for(
        "/v1/requests", 1, source_id=SOURCE, status="accepted", include_data="true", q="SMaaaaaaaa"
    )
    # Read-after-write: visible within a couple of seconds of being stored.
    assert time.monotonic() - began < 3
    [model] = models
    assert model["id"] == accepted["request_id"]
    assert model["status"] == "accepted" and model["source_id"] == SOURCE
    assert model["created_at"].endswith("Z") and len(model["created_at"]) == 24
    data = model["data"]
    assert data["method"] == "POST" and data["path"] == "/twilio/status"
    assert data["body"]["MessageSid"] == "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert data["body"]["ErrorCode"] == "" and data["body"]["To"] == "+18005551212"
    assert data["headers"]["X-Twilio-Signature"] == "c2lnbmF0dXJl"

    # Case-insensitive q over the decoded form body too.
    found = await service.get("/v1/requests", q="+18005551212")
    assert {m["id"] for m in found["models"]} == {accepted["request_id"], rejected["request_id"]}
    listed = await service.get("/v1/requests", status="rejected")
    assert [m["rejection_cause"] for m in listed["models"]] == ["VERIFICATION_FAILED"]
    assert "data" not in listed["models"][0]

    status, raw = await service.call("GET", f"/v1/requests/{accepted['request_id']}/raw_body")
    assert status == 200 and raw == GUIDE_BODY

    # Events: one failed (the guide's query), one delivered.
    failed = event_record(accepted)
    delivered = event_record(other)
    await publish(producer, settings, "events", [failed, delivered])
    refused = attempt_record(failed, status=500)
    refused["response_headers"] = [
        {"name": "Retry-After", "value": "5", "raw": None},
        {"name": "X-Trace", "value": "a", "raw": None},
        {"name": "X-Trace", "value": "b", "raw": None},
    ]
    await publish(
        producer,
        settings,
        "attempts",
        [refused, attempt_record(delivered, status=200, event_status="SUCCESSFUL")],
    )
    [event] = await service.wait_for(
        "/v1/events", 1, source_id=SOURCE, status="FAILED", include_data="true", q="MessageStatus"
    )
    assert event["id"] == failed["event_id"] and event["attempts"] == 1
    assert event["response_status"] == 500 and event["data"]["body"]["MessageStatus"] == "delivered"
    assert event["last_attempt_at"] is not None and event["successful_at"] is None
    [ok] = await service.wait_for("/v1/events", 1, status="SUCCESSFUL")
    assert ok["id"] == delivered["event_id"] and ok["successful_at"] is not None

    [attempt] = await service.wait_for("/v1/attempts", 1, event_id=failed["event_id"])
    assert attempt["event_id"] == failed["event_id"] and attempt["trigger"] == "INITIAL"
    assert attempt["status"] == "FAILED" and attempt["response_status"] == 500
    with_body = await service.get(f"/v1/attempts/{attempt['id']}")
    assert with_body["body"] == "upstream says no"
    # The destination's response headers in received order (the console's inspector).
    assert list(with_body["response_headers"].items()) == [
        ("Retry-After", "5"),
        ("X-Trace", "a, b"),
    ]

    # Requests know their events and ignored events.
    await publish(producer, settings, "ignored", [ignored_record(accepted, "con_2")])
    [ignored] = await service.wait_for(f"/v1/requests/{accepted['request_id']}/ignored_events", 1)
    assert ignored["cause"] == "FILTERED" and ignored["connection_id"] == "con_2"
    one = await service.get(f"/v1/requests/{accepted['request_id']}")
    assert one["events_count"] == 1 and one["ignored_count"] == 1 and "data" in one
    listed = await service.get(f"/v1/requests/{accepted['request_id']}/events")
    assert [m["id"] for m in listed["models"]] == [failed["event_id"]]
    assert (await service.get("/v1/ignored-events", cause="FILTERED"))["count"] == 1


async def test_team_isolation_and_errors(service: Service, producer) -> None:
    mine = request_record(TEAM, SOURCE)
    theirs = request_record("tm_other", SOURCE)
    await publish(producer, service.settings, "requests", [mine, theirs])
    await service.wait_for("/v1/requests", 1)
    status, _ = await service.call("GET", f"/v1/requests/{theirs['request_id']}")
    assert status == 404  # another team's id is an unknown id
    status, body = await service.call("GET", "/v1/requests", params={"sorce_id": "x"})
    assert status == 422 and body["errors"][0]["path"] == "sorce_id"
    status, body = await service.call("GET", "/v1/events", params={"status": "DONE"})
    assert status == 422 and body["errors"][0]["path"] == "status"
    status, body = await service.call("GET", "/v1/events", params={"limit": "251"})
    assert status == 422 and body["errors"][0]["path"] == "limit"
    status, body = await service.call("GET", "/v1/events", params={"next": "bm9wZQ"})
    assert status == 422 and body["errors"][0]["path"] == "next"
    status, body = await service.call("GET", "/v1/requests", team=None)
    assert status == 401 and body["status"] == 401
    for path in (
        "/v1/events/evt_nope",
        "/v1/attempts/atm_nope",
        "/v1/ignored-events/ign_x",
        "/v1/requests/req_nope/raw_body",
        "/v1/requests/req_nope/events",
    ):
        status, body = await service.call("GET", path)
        assert status == 404 and body["title"] == "Not Found", path
    status, _ = await service.call("POST", "/v1/events/evt_nope/retry")
    assert status == 404
    for probe in ("/healthz", "/readyz", "/metrics"):
        status, _ = await service.call("GET", probe, team=None)
        assert status == 200, probe


async def test_pagination_newest_first(service: Service, producer) -> None:
    start = now_ms() - 10_000
    records = [request_record(TEAM, SOURCE, at=start + i) for i in range(7)]
    await publish(producer, service.settings, "requests", records)
    await service.wait_for("/v1/requests", 7, limit=10)
    newest_first = [r["request_id"] for r in reversed(records)]
    first = await service.get("/v1/requests", limit=3)
    assert [m["id"] for m in first["models"]] == newest_first[:3]
    assert first["pagination"]["prev"] is None and first["count"] == 3
    second = await service.get("/v1/requests", limit=3, next=first["pagination"]["next"])
    assert [m["id"] for m in second["models"]] == newest_first[3:6]
    third = await service.get("/v1/requests", limit=3, next=second["pagination"]["next"])
    assert [m["id"] for m in third["models"]] == newest_first[6:]
    assert third["pagination"]["next"] is None
    back = await service.get("/v1/requests", limit=3, prev=third["pagination"]["prev"])
    assert [m["id"] for m in back["models"]] == newest_first[3:6]
    assert back["pagination"]["prev"] is not None
    # Time filters on received_at.
    mid = records[3]["received_at"]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mid / 1000)) + f".{mid % 1000:03d}Z"
    since = await service.get("/v1/requests", **{"created_at[gte]": stamp})
    assert [m["id"] for m in since["models"]] == newest_first[:4]
    until = await service.get("/v1/requests", **{"created_at[lte]": stamp})
    assert [m["id"] for m in until["models"]] == newest_first[3:]
    empty = await service.get("/v1/requests", next=encode_cursor("lt", "req_0"))
    assert empty["models"] == [] and empty["pagination"]["next"] is None


async def test_event_status_model(service: Service, producer) -> None:
    settings = service.settings
    t = now_ms() - 60_000
    reqs = [request_record(TEAM, SOURCE, at=t + i) for i in range(5)]
    queued = event_record(reqs[0], at=t + 100)
    delayed = event_record(reqs[1], delay_ms=600_000, at=t + 100)
    held = event_record(reqs[2], at=t + 100)
    retrying = event_record(reqs[3], at=t + 100)
    released = event_record(reqs[4], at=t + 100)
    await publish(producer, settings, "events", [queued, delayed, held, retrying, released])
    await publish(producer, settings, "held", [held, released])
    due = now_ms() + 30_000
    await publish(
        producer,
        settings,
        "attempts",
        [
            attempt_record(
                retrying, status=503, event_status="SCHEDULED", next_attempt_at=due, at=t + 200
            )
        ],
    )
    await publish(
        producer,
        settings,
        "events",
        [{**released, "trigger": "UNPAUSE", "due_at": now_ms() + 1000}],
    )
    expected = {
        queued["event_id"]: "QUEUED",
        delayed["event_id"]: "SCHEDULED",
        held["event_id"]: "HOLD",
        retrying["event_id"]: "SCHEDULED",
        released["event_id"]: "QUEUED",
    }

    async def statuses() -> bool:
        body = await service.get("/v1/events")
        return {m["id"]: m["status"] for m in body["models"]} == expected

    await eventually(statuses, 10, "every event in its status")
    one = await service.get(f"/v1/events/{retrying['event_id']}")
    assert one["attempts"] == 1 and one["response_status"] == 503
    assert one["next_attempt_at"] is not None and one["data"]["path"] == "/twilio/status"
    assert (await service.get("/v1/events", status="HOLD"))["count"] == 1
    assert (await service.get("/v1/events", response_status=503))["count"] == 1


async def test_event_retry_publishes_a_manual_event(service: Service, producer, bootstrap) -> None:
    settings = service.settings
    request = request_record(TEAM, SOURCE)
    event = event_record(request)
    await publish(producer, settings, "events", [event])
    await publish(producer, settings, "attempts", [attempt_record(event, status=500)])
    await service.wait_for("/v1/attempts", 1, event_id=event["event_id"])
    status, body = await service.call("POST", f"/v1/events/{event['event_id']}/retry")
    assert status == 202 and body["attempt_number"] == 2 and body["trigger"] == "MANUAL"
    records = await read_topic(bootstrap, settings.topics.events, expect=2)
    manual = records[-1]
    assert manual["trigger"] == "MANUAL" and manual["attempt_number"] == 2
    assert manual["event_id"] == event["event_id"] and manual["due_at"] <= now_ms()
    assert manual["request"] == event["request"] and manual["source_url"] == event["source_url"]
    # The retry is itself projected: the event is queued again.
    await service.wait_for("/v1/events", 1, status="QUEUED")


async def test_request_retry_publishes_a_replay(service: Service, producer, bootstrap) -> None:
    settings = service.settings
    raw = [
        *request_record(TEAM, SOURCE)["headers"],
        {"name": "X-Odd", "value": "\xff", "raw": b"\xff"},
    ]
    request = request_record(TEAM, SOURCE, headers=raw, query="x=1")
    rejected = request_record(TEAM, SOURCE, status="rejected", cause="METHOD_NOT_ALLOWED")
    await publish(producer, settings, "requests", [request, rejected])
    await service.wait_for("/v1/requests", 2)
    status, body = await service.call(
        "POST", f"/v1/requests/{request['request_id']}/retry", json={"connection_ids": ["con_1"]}
    )
    assert status == 202 and body["replay_of"] == request["request_id"]
    records = await read_topic(bootstrap, settings.topics.requests, expect=3)
    [replay] = [r for r in records if r["replay_of"]]
    assert replay["request_id"] == body["request_id"] != request["request_id"]
    assert replay["connection_ids"] == ["con_1"]
    for field in ("body", "headers", "query", "path", "public_url", "verification", "status"):
        assert replay[field] == request[field], field
    status, body = await service.call("POST", f"/v1/requests/{rejected['request_id']}/retry")
    assert status == 409
    status, body = await service.call(
        "POST", f"/v1/requests/{request['request_id']}/retry", json={"connection_ids": "con_1"}
    )
    assert status == 422 and body["errors"][0]["path"] == "connection_ids"
