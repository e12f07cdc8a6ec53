"""A bulk job outlives its replica: two projections processes (real OS processes, each with
its own embedded engine projecting every record), a job started on the first, the first
SIGKILLed in the middle of it — the second sees the lease lapse, claims the job (fencing the
dead replica's producer) and finishes it from the last committed page. Every event is retried
by the job exactly once, counted the way the deliverer reads the events topic
(read_committed)."""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from fasthook.embedded import free_port
from projections.bulk_jobs import read_jobs
from runtime.settings import Settings
from tests.projections.conftest import TEAM, api_headers
from tests.projections.records import attempt_record, event_record, publish, request_record
from tests.projections.test_bulk import bulk_events
from tests.support.poll import eventually
from tests.support.projections import ProjectionsProcess

TOTAL = 600
LEASE_S = 3.0


def replica(settings: Settings, tmp_path: Path, name: str) -> ProjectionsProcess:
    own = settings.with_(
        instance_id=name,
        data_dir=str(tmp_path / name),
        clickhouse_dsn="",
        clickhouse_database="",
        bulk_lease_s=LEASE_S,
        # Its own engine needs every row: its own projector group.
        projector_group=f"{settings.topic_namespace}-{name}",
        projections_port=free_port(),
        analysts_port=free_port(),
        projector_batch_ms=50,
    )
    # Pages of 20 events a fifth of a second apart: the kill lands mid-job.
    return ProjectionsProcess(
        own,
        tmp_path / f"{name}.log",
        module="tests.support.bulk_replica",
        env={"FASTHOOK_TEST_BULK_PAGE_SIZE": "20", "FASTHOOK_TEST_BULK_PAUSE_S": "0.2"},
    )


async def call(
    http: aiohttp.ClientSession,
    process: ProjectionsProcess,
    method: str,
    path: str,
    body: Any = None,
) -> Any:
    async with http.request(
        method, process.url + path, json=body, headers=api_headers(process.settings)
    ) as response:
        assert response.status in (200, 202), await response.text()
        return await response.json()


async def job_until(
    http: aiohttp.ClientSession,
    process: ProjectionsProcess,
    job_id: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    timeout_s: float,
) -> dict[str, Any]:
    async def poll() -> dict[str, Any] | None:
        async with http.get(
            process.url + f"/v1/bulk/events/retry/{job_id}", headers=api_headers(process.settings)
        ) as response:
            if response.status == 404:
                return None  # not yet on this replica: its view follows the topic
            assert response.status == 200, await response.text()
            job = await response.json()
        return job if check(job) else None

    return await eventually(poll, timeout_s, what, 0.05)


async def test_a_job_whose_replica_is_killed_is_finished_by_another(
    settings: Settings, producer: Any, bootstrap: str, tmp_path: Path
) -> None:
    requests = [request_record(TEAM, "src_replicas") for _ in range(TOTAL)]
    events = [event_record(r) for r in requests]
    await publish(producer, settings, "events", events)
    await publish(producer, settings, "attempts", [attempt_record(e, status=500) for e in events])
    failed = sorted(e["event_id"] for e in events)

    first, second = replica(settings, tmp_path, "a"), replica(settings, tmp_path, "b")
    query = {"query": {"status": "FAILED"}}
    try:
        for process in (first, second):
            process.start()
        async with aiohttp.ClientSession() as http:
            for process in (first, second):
                await process.wait_started()

                def projected(p: ProjectionsProcess = process) -> Callable[[], Awaitable[bool]]:
                    async def check() -> bool:
                        plan = await call(http, p, "POST", "/v1/bulk/events/retry/plan", query)
                        return bool(plan["estimated_count"] == TOTAL)

                    return check

                await eventually(projected(), 90, "every failed event projected", 0.2)

            job = await call(http, first, "POST", "/v1/bulk/events/retry", query)
            # The second replica follows the job the first runs (its view tails the topic).
            seen = await job_until(
                http,
                second,
                job["id"],
                lambda j: j["processed_count"] >= 100,
                "the job under way, seen by the second replica",
                60,
            )
            first.signal(signal.SIGKILL)
            await first.wait_exit(10)
            print(f"processed when killed: >= {seen['processed_count']}/{TOTAL}")

            done = await job_until(
                http,
                second,
                job["id"],
                lambda j: j["status"] == "COMPLETED",
                "the job finished by the second replica",
                120,
            )
            async with http.get(second.url + "/metrics") as response:
                metrics = await response.text()
            [claims] = [
                float(line.split()[-1])
                for line in metrics.splitlines()
                if line.startswith("fasthook_projections_bulk_claims_total ")
            ]
            assert claims >= 1  # the takeover, counted where operators look
        assert done["processed_count"] == TOTAL
        sent = await bulk_events(bootstrap, settings, job["id"])
        assert sorted(sent) == failed and set(sent.values()) == {1}
        stored = (await read_jobs(bootstrap, settings.topics.bulk))[job["id"]]
        assert stored.status == "COMPLETED"
        assert stored.owner == second.settings.member_name("projections")
        assert stored.token >= 2  # claimed by the first, then by the second
        everything = await bulk_events(bootstrap, settings, job["id"], committed=False)
        print(f"retries in the log, aborted pages included: {sum(everything.values())}")
    finally:
        for process in (first, second):
            process.kill()
