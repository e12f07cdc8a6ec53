"""SIGKILL the projections process mid-stream: after a restart every record on the topics is
in the tables exactly once (offsets are committed only after the write; a re-written batch
changes nothing)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aiohttp

from fasthook.embedded import free_port
from runtime.settings import Settings
from tests.projections.conftest import TEAM, api_headers
from tests.projections.records import attempt_record, event_record, publish, request_record
from tests.support.poll import eventually
from tests.support.projections import ProjectionsProcess

TOTAL = 1500


def projections_process(settings: Settings, log_path: Path) -> ProjectionsProcess:
    """`python -m projections` with its own chdb path (<data_dir>/clickhouse)."""
    return ProjectionsProcess(
        settings,
        log_path,
        env={
            "FASTHOOK_CLICKHOUSE_DSN": "",
            "FASTHOOK_CLICKHOUSE_DATABASE": "",
            # Small batches: the kill lands between (or inside) many of them.
            "FASTHOOK_PROJECTOR_BATCH_RECORDS": "100",
            "FASTHOOK_PROJECTOR_BATCH_MS": "50",
        },
    )


async def all_ids(http: aiohttp.ClientSession, url: str, settings: Settings) -> list[str]:
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 250}
    while True:
        async with http.get(url, params=params, headers=api_headers(settings)) as r:
            assert r.status == 200, await r.text()
            body = await r.json()
        ids += [m["id"] for m in body["models"]]
        if not body["pagination"]["next"]:
            return ids
        params["next"] = body["pagination"]["next"]


async def test_sigkill_mid_batch_then_restart_converges(
    settings: Settings, producer, tmp_path: Path
) -> None:
    settings = settings.with_(projections_port=free_port(), analysts_port=free_port())
    base = f"http://127.0.0.1:{settings.projections_port}"
    service = projections_process(settings, tmp_path / "projections.log")
    service.start()
    try:
        await service.wait_ready(base + "/readyz", 60)
        requests = [request_record(TEAM, "src_1") for _ in range(TOTAL)]
        events = [event_record(r) for r in requests]
        await publish(producer, settings, "requests", requests)
        await publish(producer, settings, "events", events)
        await publish(producer, settings, "attempts", [attempt_record(e) for e in events])

        async with aiohttp.ClientSession() as http:

            async def started() -> int:
                return len(await all_ids(http, base + "/v1/requests", settings)) >= 100

            await eventually(started, 30, "projection under way", 0.01)
            at_kill = len(await all_ids(http, base + "/v1/requests", settings))
            service.signal(signal.SIGKILL)
            print(f"projected when killed: {at_kill}/{TOTAL}")
            await service.wait_exit(10)
            service.start()
            await service.wait_ready(base + "/readyz", 60)

            async def converged() -> dict[str, list[str]]:
                found = {
                    path: await all_ids(http, base + path, settings)
                    for path in ("/v1/requests", "/v1/events", "/v1/attempts")
                }
                return found if all(len(ids) >= TOTAL for ids in found.values()) else {}

            found = await eventually(converged, 60, "every record projected", 0.2)
        assert sorted(found["/v1/requests"]) == sorted(r["request_id"] for r in requests)
        assert sorted(found["/v1/events"]) == sorted(e["event_id"] for e in events)
        assert len(set(found["/v1/attempts"])) == len(found["/v1/attempts"]) == TOTAL

        # `python -m projections rebuild` (service stopped: one owner of the chdb path).
        service.signal(signal.SIGTERM)
        assert await service.wait_exit(30) == 0
        service.start("rebuild")
        assert await service.wait_exit(120) == 0, service.log_path.read_text()[-2000:]
        service.start()
        await service.wait_ready(base + "/readyz", 60)
        async with aiohttp.ClientSession() as http:
            events = await all_ids(http, base + "/v1/events", settings)
            assert sorted(events) == sorted(found["/v1/events"])
            assert len(await all_ids(http, base + "/v1/attempts", settings)) == TOTAL
    finally:
        service.kill()
