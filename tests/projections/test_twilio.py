"""The Twilio views: a message's status never moves back from a terminal state however late
an earlier callback arrives; calls follow SequenceNumber."""

from __future__ import annotations

from typing import Any

from projections.clickhouse import Engine
from tests.projections.conftest import TEAM, Service
from tests.projections.records import now_ms, publish, request_record
from tests.support.poll import eventually

SOURCE = "src_twilio"


def message(sid: str, status: str, at: int, error: str = "") -> dict[str, Any]:
    body = (
        f"MessageSid={sid}&MessageStatus={status}&SmsStatus={status}&To=%2B18005551212"
        f"&From=%2B18005550199&AccountSid=AC1&ErrorCode={error}"
    ).encode()
    return request_record(TEAM, SOURCE, body, at=at)


def call(sid: str, status: str, sequence: int, at: int) -> dict[str, Any]:
    body = (
        f"CallSid={sid}&CallStatus={status}&SequenceNumber={sequence}"
        f"&CallbackSource=call-progress-events&AccountSid=AC1"
    ).encode()
    return request_record(TEAM, SOURCE, body, at=at)


async def rows(engine: Engine, db: str, sql: str, count: int) -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        found = await engine.query(sql.replace("{db}", db), {"team": TEAM})
        return found if len(found) >= count else []

    return await eventually(check, 10, f"{count} rows of {sql}", 0.05)


async def test_message_status_never_goes_back_from_terminal(
    service: Service, engine: Engine, db: str, producer
) -> None:
    t = now_ms() - 10_000
    callbacks = [
        message("SM1", "queued", t),
        message("SM1", "delivered", t + 1),
        message("SM1", "sent", t + 2),  # late: arrived after `delivered`
        message("SM2", "sent", t),
        message("SM2", "undelivered", t + 1, "30003"),
        message("SM2", "sending", t + 2),
        message("SM3", "delivered", t),
        message("SM3", "read", t + 1),
        message("SM4", "queued", t),
        message("SM4", "sent", t + 1),
    ]
    replay = {**message("SM4", "delivered", t + 5), "replay_of": callbacks[-1]["request_id"]}
    rejected = {
        **message("SM4", "failed", t + 6),
        "status": "rejected",
        "rejection_cause": "VERIFICATION_FAILED",
    }
    await publish(producer, service.settings, "requests", [*callbacks, replay, rejected])
    await service.wait_for("/v1/requests", 12)  # every callback projected, then the views
    found = await rows(
        engine,
        db,
        "SELECT message_sid, status, is_terminal, error_code, "
        "callbacks, to_number FROM {db}.twilio_messages "
        "WHERE team_id = {team:String} ORDER BY message_sid",
        4,
    )
    assert [(r["message_sid"], r["status"], bool(r["is_terminal"])) for r in found] == [
        ("SM1", "delivered", True),
        ("SM2", "undelivered", True),
        ("SM3", "read", True),
        ("SM4", "sent", False),
    ]  # neither a replay nor a rejected request is a callback
    assert found[1]["error_code"] == "30003" and found[0]["callbacks"] == 3
    assert found[0]["to_number"] == "+18005551212"


async def test_calls_follow_sequence_number(
    service: Service, engine: Engine, db: str, producer
) -> None:
    t = now_ms() - 10_000
    await publish(
        producer,
        service.settings,
        "requests",
        [
            call("CA1", "initiated", 0, t),
            call("CA1", "completed", 3, t + 1),
            call("CA1", "ringing", 1, t + 2),
            call("CA1", "in-progress", 2, t + 3),
        ],
    )
    await service.wait_for("/v1/requests", 4)
    ordered = await rows(
        engine,
        db,
        "SELECT call_status, sequence_number FROM "
        "{db}.twilio_call_callbacks WHERE team_id = {team:String} "
        "AND call_sid = 'CA1' ORDER BY sequence_number",
        4,
    )
    assert [(r["sequence_number"], r["call_status"]) for r in ordered] == [
        (0, "initiated"),
        (1, "ringing"),
        (2, "in-progress"),
        (3, "completed"),
    ]
    [latest] = await rows(
        engine,
        db,
        "SELECT status, last_sequence_number, callbacks FROM "
        "{db}.twilio_calls WHERE team_id = {team:String}",
        1,
    )
    assert latest == {"status": "completed", "last_sequence_number": 3, "callbacks": 4}
