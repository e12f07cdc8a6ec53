"""GET /v1/metrics over real projected records: each series counts what it names (requests,
events, attempts), every bucket is present, destinations carry error rate and backlog, and
another team's records never show. The bucket choice and validation are pure."""

from __future__ import annotations

from typing import Any

import pytest

from projections.openapi import openapi_paths
from projections.timeseries import pick_bucket, slots
from tests.projections.conftest import TEAM, Service
from tests.projections.records import (
    attempt_record,
    event_record,
    now_ms,
    publish,
    request_record,
)
from tests.support.poll import eventually


def test_buckets_are_nice_and_bounded() -> None:
    assert pick_bucket(3600) == 60 and pick_bucket(600) == 10 and pick_bucket(86400) == 1800
    assert pick_bucket(10**9) == 86400
    assert slots(1_000, 181_000, 60_000) == [0, 60_000, 120_000, 180_000]
    assert slots(60_000, 180_000, 60_000) == [60_000, 120_000]


async def test_metrics_count_requests_events_and_attempts_apart(
    service: Service, producer: Any
) -> None:
    accepted = [request_record(TEAM, "src_m") for _ in range(3)]
    rejected = request_record(TEAM, "src_m", status="rejected", cause="VERIFICATION_FAILED")
    others = request_record("tm_other", "src_x")
    ok_event, failed_event, pending_event = (
        event_record(accepted[0], destination_id="des_ok"),
        event_record(accepted[1], destination_id="des_bad"),
        event_record(accepted[2], destination_id="des_bad"),
    )
    await publish(producer, service.settings, "requests", [*accepted, rejected, others])
    await publish(producer, service.settings, "events", [ok_event, failed_event, pending_event])
    await publish(
        producer,
        service.settings,
        "attempts",
        [
            attempt_record(ok_event, status=204, event_status="SUCCESSFUL"),
            attempt_record(failed_event, status=503),
            attempt_record(failed_event, status=None, error_code="TIMEOUT", attempt_number=2),
        ],
    )

    async def projected():
        status, body = await service.call("GET", "/v1/metrics")
        assert status == 200, body
        done = (
            sum(body["requests"]["accepted"]) == 3
            and sum(sum(v) for v in body["attempts"].values() if isinstance(v[0], int)) == 3
            and sum(sum(v) for v in body["events"].values()) == 3
        )
        return body if done else None

    body = await eventually(projected, 30, "the records in the metrics", interval_s=0.2)
    assert body["bucket_s"] == 60 and len(body["times"]) in (60, 61)
    assert len(body["requests"]["rejected"]) == len(body["times"])
    assert sum(body["requests"]["rejected"]) == 1
    assert sum(body["events"]["SUCCESSFUL"]) == 1 and sum(body["events"]["FAILED"]) == 1
    assert sum(body["events"]["QUEUED"]) == 1
    attempts = body["attempts"]
    assert (sum(attempts["2xx"]), sum(attempts["5xx"]), sum(attempts["no_response"])) == (1, 1, 1)
    assert [p for p in attempts["latency_p50_ms"] if p is not None] == [12.0]
    health = {d["destination_id"]: d for d in body["destinations"]}
    assert health["des_bad"]["error_rate"] == 1.0 and health["des_bad"]["pending"] == 1
    assert health["des_bad"]["oldest_pending_age_s"] >= 0
    assert health["des_ok"]["error_rate"] == 0.0 and health["des_ok"]["pending"] == 0

    # A window without them, and another team: zeros.
    status, empty = await service.call("GET", "/v1/metrics", team="tm_nobody")
    assert status == 200 and sum(empty["requests"]["accepted"]) == 0
    assert empty["destinations"] == []
    start = now_ms() - 10 * 86400_000
    status, old = await service.call(
        "GET",
        "/v1/metrics",
        params={"from": _iso(start), "to": _iso(start + 3600_000), "bucket_s": "600"},
    )
    assert status == 200 and len(old["times"]) in (6, 7) and sum(old["requests"]["accepted"]) == 0


def _iso(ms: int) -> str:
    from schemas.times import iso_or_none as iso

    return iso(ms) or ""


@pytest.mark.parametrize(
    "params,path",
    [
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "(query)"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "(query)"),
        ({"bucket_s": "5"}, "bucket_s"),
        ({"from": "yesterday"}, "from"),
        ({"window": "1h"}, "window"),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "bucket_s": "10"},
            "(query)",
        ),
    ],
)
async def test_bad_metrics_queries_are_named(service: Service, params, path) -> None:
    status, body = await service.call("GET", "/v1/metrics", params=params)
    assert status == 422, body
    assert [e["path"] for e in body["errors"]] == [path], body


def test_the_metrics_route_is_documented() -> None:
    operation = openapi_paths()["paths"]["/v1/metrics"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "bucket_s"}
