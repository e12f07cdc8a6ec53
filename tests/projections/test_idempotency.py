"""Replaying the topics — into the same tables, or into fresh ones with `rebuild` — converges
to the same query results: same counts, no duplicates."""

from __future__ import annotations

from typing import Any

from projections.clickhouse import Engine
from projections.metrics import ProjectionMetrics
from projections.projector import replay_all
from projections.rebuild import rebuild
from runtime.settings import Settings
from tests.projections.conftest import TEAM, Service, start_service, stop_service
from tests.projections.records import (
    attempt_record,
    event_record,
    ignored_record,
    publish,
    request_record,
)
from tests.support.config import declare


async def everything(service: Service) -> dict[str, list[tuple[Any, ...]]]:
    """Every model of every list, paged through: ids plus the fields that must converge."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for path, fields in (
        ("/v1/requests", ("status",)),
        ("/v1/events", ("status", "attempts", "response_status")),
        ("/v1/attempts", ("status",)),
        ("/v1/ignored-events", ("cause",)),
    ):
        seen: list[tuple[Any, ...]] = []
        params: dict[str, Any] = {"limit": 250}
        while True:
            body = await service.get(path, **params)
            seen += [(m["id"], *(m[f] for f in fields)) for m in body["models"]]
            if not body["pagination"]["next"]:
                break
            params["next"] = body["pagination"]["next"]
        out[path] = seen
    return out


async def publish_fixture(producer, settings: Settings, n: int) -> None:
    requests = [request_record(TEAM, f"src_{i % 3}") for i in range(n)]
    events = [event_record(r, f"con_{i % 2}") for i, r in enumerate(requests) if i % 4]
    await publish(producer, settings, "requests", requests)
    await publish(producer, settings, "events", events)
    await publish(
        producer,
        settings,
        "attempts",
        [
            attempt_record(
                e, status=200 if i % 3 else 500, event_status="SUCCESSFUL" if i % 3 else "FAILED"
            )
            for i, e in enumerate(events)
        ],
    )
    await publish(producer, settings, "held", events[:5])
    await publish(producer, settings, "ignored", [ignored_record(r) for r in requests[::4]])


async def test_replays_converge(
    service: Service, psettings: Settings, engine: Engine, db: str, producer
) -> None:
    n = 300
    await declare(producer, psettings, "source", {"name": "twilio"}, TEAM)
    await publish_fixture(producer, psettings, n)
    await service.caught_up()
    before = await everything(service)
    assert len(before["/v1/requests"]) == n and len(before["/v1/events"]) == 225
    assert len({row[0] for row in before["/v1/events"]}) == 225
    await stop_service(service)

    # 1. Re-consume every topic into the same tables: every row is written twice.
    await replay_all(psettings, engine, db, ProjectionMetrics())
    [counted] = await engine.query(f"SELECT count() AS n FROM {db}.requests")
    assert counted["n"] >= n
    again = await start_service(psettings)
    try:
        assert await everything(again) == before
    finally:
        await stop_service(again)

    # 2. Rebuild: fresh tables, every topic replayed from the beginning.
    metrics = await rebuild(psettings, engine)
    assert metrics.records.labels("requests")._value.get() == n
    [config] = await engine.query(f"SELECT count() AS n FROM {db}.config FINAL")
    assert config["n"] == 1
    rebuilt = await start_service(psettings)
    try:
        assert await everything(rebuilt) == before
    finally:
        await stop_service(rebuilt)
