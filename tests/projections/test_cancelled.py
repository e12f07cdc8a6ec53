"""Events cancelled because their connection or destination was disabled or deleted: the
deliverer records a FAILED attempt whose event_status is CANCELLED; the event is CANCELLED,
searchable as such, and can still be retried (one by one or in bulk) once it can be delivered."""

from __future__ import annotations

from typing import Any

from projections.keys import DATABASE, ENGINE
from projections.rows import project
from tests.projections.conftest import TEAM, Service
from tests.projections.records import (
    attempt_record,
    event_record,
    now_ms,
    publish,
    request_record,
)
from tests.projections.test_bulk import bulk_events, until
from tests.support.kafka import read_topic
from tests.support.poll import eventually

SOURCE = "src_cancelled"
CAUSES = (
    "CONNECTION_DISABLED",
    "DESTINATION_DISABLED",
    "CONNECTION_DELETED",
    "DESTINATION_DELETED",
)


def cancellation(event: dict[str, Any], code: str, at: int) -> dict[str, Any]:
    return attempt_record(event, status=None, error_code=code, event_status="CANCELLED", at=at)


def test_a_cancellation_is_the_event_state_and_outranks_a_hold_at_the_same_time() -> None:
    now = now_ms()
    event = event_record(request_record(TEAM, SOURCE), at=now)
    [(_, held)] = [r for r in project("held", "k", event, now + 5, 0) if r[0] == "event_log"]
    [(_, fact)] = [
        r
        for r in project("attempts", "k", cancellation(event, "CONNECTION_DELETED", now + 5), 0, 0)
        if r[0] == "event_log"
    ]
    assert (fact["fact"], fact["state"], fact["outcome_error"]) == (
        "ATTEMPT",
        "CANCELLED",
        "CONNECTION_DELETED",
    )
    assert (fact["at"], fact["rank"]) > (held["at"], held["rank"])


async def seed(service: Service, producer: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An event cancelled for each cause (each from another state: queued, scheduled, held,
    failed), and one FAILED event that stays FAILED."""
    t = now_ms() - 60_000
    events = [event_record(request_record(TEAM, SOURCE, at=t + i), at=t + 10) for i in range(5)]
    cancelled, failed = events[:4], events[4]
    await publish(producer, service.settings, "events", events)
    await publish(producer, service.settings, "held", [cancelled[2]])
    await publish(
        producer,
        service.settings,
        "attempts",
        [
            attempt_record(
                cancelled[1],
                status=503,
                event_status="SCHEDULED",
                next_attempt_at=now_ms() + 60_000,
                at=t + 20,
            ),
            attempt_record(cancelled[3], status=500, at=t + 20),
            attempt_record(failed, status=500, at=t + 20),
        ],
    )
    # After the hold: a held fact is dated by its record's broker timestamp (now).
    cancelled_at = now_ms()
    await publish(
        producer,
        service.settings,
        "attempts",
        [cancellation(e, code, cancelled_at) for e, code in zip(cancelled, CAUSES, strict=True)],
    )
    await service.caught_up()
    return cancelled, failed


async def test_cancelled_events_are_listed_filtered_and_shown(
    service: Service, producer: Any
) -> None:
    cancelled, failed = await seed(service, producer)
    body = await service.get("/v1/events", status="CANCELLED")
    shown = {m["id"]: m for m in body["models"]}
    assert set(shown) == {e["event_id"] for e in cancelled}
    for event, code in zip(cancelled, CAUSES, strict=True):
        model = shown[event["event_id"]]
        assert model["status"] == "CANCELLED" and model["error_code"] == code
        assert model["next_attempt_at"] is None and model["successful_at"] is None
    scheduled_before = shown[cancelled[1]["event_id"]]
    assert scheduled_before["attempts"] == 2 and scheduled_before["response_status"] is None
    one = await service.get("/v1/events", status="CANCELLED", error_code="DESTINATION_DELETED")
    assert [m["id"] for m in one["models"]] == [cancelled[3]["event_id"]]
    assert [m["id"] for m in (await service.get("/v1/events", status="FAILED"))["models"]] == [
        failed["event_id"]
    ]
    # The attempt that cancelled it is listed like any other.
    attempts = await service.get("/v1/attempts", event_id=cancelled[0]["event_id"])
    assert [(a["status"], a["error_code"]) for a in attempts["models"]] == [
        ("FAILED", "CONNECTION_DISABLED")
    ]
    # Analysts' view agrees with the API.
    rows = await service.app[ENGINE].query(
        f"SELECT event_id FROM {service.app[DATABASE]}.events "
        "WHERE team_id = {team:String} AND status = 'CANCELLED'",
        {"team": TEAM},
    )
    assert {r["event_id"] for r in rows} == set(shown)


async def test_a_cancelled_event_is_retried_and_delivered_once_enabled_again(
    service: Service, producer: Any, bootstrap: str
) -> None:
    cancelled, _ = await seed(service, producer)
    event = cancelled[0]
    status, body = await service.call("POST", f"/v1/events/{event['event_id']}/retry")
    assert status == 202, body
    assert (body["attempt_number"], body["trigger"], body["status"]) == (2, "MANUAL", "QUEUED")
    records = await read_topic(bootstrap, service.settings.topics.events, expect=6)
    manual = [r for r in records if r["trigger"] == "MANUAL"]
    assert [(r["event_id"], r["attempt_number"]) for r in manual] == [(event["event_id"], 2)]
    # The retry is projected (QUEUED again); the deliverer then delivers it, the connection
    # being enabled again.
    await service.wait_for("/v1/events", 1, status="QUEUED")
    await publish(
        producer,
        service.settings,
        "attempts",
        [attempt_record(manual[0], status=200, event_status="SUCCESSFUL", attempt_number=2)],
    )

    async def delivered() -> bool:
        model = await service.get(f"/v1/events/{event['event_id']}")
        return model["status"] == "SUCCESSFUL" and model["attempts"] == 2

    await eventually(delivered, 10, "the retried event delivered")


async def test_a_bulk_retry_of_cancelled_events(
    service: Service, producer: Any, bootstrap: str
) -> None:
    cancelled, _ = await seed(service, producer)
    query = {"status": "CANCELLED", "source_id": SOURCE}
    status, body = await service.call("POST", "/v1/bulk/events/retry/plan", json={"query": query})
    assert (status, body) == (200, {"estimated_count": len(cancelled)})
    status, job = await service.call("POST", "/v1/bulk/events/retry", json={"query": query})
    assert status == 202, job
    done = await until(service, job["id"], lambda b: b["status"] == "COMPLETED")
    assert done["processed_count"] == len(cancelled) and done["skipped_count"] == 0
    sent = await bulk_events(bootstrap, service.settings, job["id"])
    assert sorted(sent) == sorted(e["event_id"] for e in cancelled)
    await service.caught_up()
    _, body = await service.call("POST", "/v1/bulk/events/retry/plan", json={"query": query})
    assert body == {"estimated_count": 0}
