"""The Twilio analyses of docs/analysts.md, as an analyst runs them (clickhouse-connect on the
endpoint, default format and pandas), give the right numbers for a known set of callbacks."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tests.projections.analysts_support import client, documented, make_analyst, make_team, rows
from tests.projections.conftest import Service
from tests.projections.records import now_ms, publish, request_record

SOURCE, OTHER_SOURCE = "src_twilio", "src_other"


def callback(team: str, sid: str, status: str, to: str, at: int, error: str = "") -> dict[str, Any]:
    body = (
        f"MessageSid={sid}&MessageStatus={status}&To=%2B{to}&From=%2B18005550199"
        f"&AccountSid=AC1&ErrorCode={error}"
    ).encode()
    return request_record(team, SOURCE, body, at=at)


def known_callbacks(team: str, t: int) -> list[dict[str, Any]]:
    us, uk = "14155550100", "447700900123"
    return [
        callback(team, "SM1", "queued", us, t),
        callback(team, "SM1", "sent", us, t + 1000),
        callback(team, "SM1", "delivered", us, t + 3000),
        callback(team, "SM2", "sent", us, t + 100),
        callback(team, "SM2", "undelivered", us, t + 500, "30003"),
        # Out of order: `delivered` arrives before `sent`.
        callback(team, "SM3", "delivered", us, t + 200),
        callback(team, "SM3", "sent", us, t + 900),
        callback(team, "SM4", "sent", uk, t),
        callback(team, "SM4", "failed", uk, t + 400, "30008"),
        callback(team, "SM5", "sent", uk, t),
        callback(team, "SM5", "delivered", uk, t + 1500),
        callback(team, "SM6", "sent", uk, t),
        callback(team, "SM6", "undelivered", uk, t + 50, "30003"),
        # Rejected by signature: two on one source, one on another.
        request_record(team, SOURCE, b"x", status="rejected", cause="VERIFICATION_FAILED", at=t),
        request_record(team, SOURCE, b"x", status="rejected", cause="VERIFICATION_FAILED", at=t),
        request_record(
            team, OTHER_SOURCE, b"x", status="rejected", cause="VERIFICATION_FAILED", at=t
        ),
        request_record(
            team, OTHER_SOURCE, b"x", status="rejected", cause="METHOD_NOT_ALLOWED", at=t
        ),
    ]


async def test_documented_twilio_analyses(service: Service, producer) -> None:
    settings = service.settings
    team = await make_team(settings, "twilio")
    t = now_ms() - 60_000
    await publish(producer, settings, "requests", known_callbacks(team, t))
    await service.caught_up()
    password = await make_analyst(settings, "twilio_analyst")
    cli = await client(settings, "twilio_analyst", password)
    day = dt.datetime.fromtimestamp(t / 1000, dt.UTC).date()

    failure = await rows(
        cli, documented("Failure rate by ErrorCode and carrier prefix, per day", team)
    )
    assert failure == [
        (day, "+1415", "30003", 1, 3, 0.3333),
        (day, "+4477", "30003", 1, 3, 0.3333),
        (day, "+4477", "30008", 1, 3, 0.3333),
    ]

    timing = await asyncio.to_thread(
        cli.query_df, documented("Time from sent to delivered, per MessageSid", team)
    )
    assert timing[["message_sid", "sent_to_delivered_ms"]].to_dict("records") == [
        {"message_sid": "SM1", "sent_to_delivered_ms": 2000},
        {"message_sid": "SM5", "sent_to_delivered_ms": 1500},
        {"message_sid": "SM3", "sent_to_delivered_ms": -700},
    ]

    late = await rows(cli, documented("Callbacks that arrived out of order", team))
    assert [(sid, status, rank_before) for sid, _, status, _, rank_before in late] == [
        ("SM3", "sent", 6)
    ]

    rejected = await rows(cli, documented("Requests rejected by signature, by source", team))
    assert [(source, count) for source, count, _ in rejected] == [(SOURCE, 2), (OTHER_SOURCE, 1)]

    # A team-scoped analyst runs the same text and gets the same answers.
    scoped = await client(
        settings, "twilio_team", await make_analyst(settings, "twilio_team", team)
    )
    assert (
        await rows(
            scoped, documented("Failure rate by ErrorCode and carrier prefix, per day", team)
        )
        == failure
    )
