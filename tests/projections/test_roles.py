"""`FASTHOOK_PROJECTIONS_ROLE`: a projector worker projects and serves only its probes; a
query replica serves every query and runs bulk jobs without a projector — reading what the
worker wrote, on the real broker and engine. And a bulk job is cancelled through a replica
other than the one running it (the cancel claims the job and fences the runner)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from fasthook.embedded import free_port
from projections.app import create_app
from projections.bulk_jobs import Job
from projections.clickhouse import Engine
from projections.errors import EngineError
from projections.keys import BULK, PROJECTOR
from projections.rebuild import rebuild
from runtime.errors import SettingsError
from runtime.kafka import assign_from_beginning
from runtime.settings import Settings
from tests.projections.conftest import TEAM, Service, api_headers, start_service, stop_service
from tests.projections.records import event_record, publish, request_record
from tests.projections.test_bulk import bulk_events, seed_failed, until
from tests.support.poll import eventually


@pytest.fixture
async def replicas(psettings: Settings, db: str) -> AsyncIterator[tuple[Service, Service]]:
    """A projector worker and a query replica on one engine database."""
    worker_app = create_app(psettings.with_(projections_role="projector", instance_id="worker"))
    query_settings = psettings.with_(
        projections_role="query",
        instance_id="query",
        projections_port=free_port(),
        analysts_port=free_port(),
    )
    started: list[Service] = []
    try:
        for app, settings in (
            (worker_app, psettings),
            (create_app(query_settings), query_settings),
        ):
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", settings.projections_port).start()
            started.append(Service(app, runner, settings, aiohttp.ClientSession()))
        yield started[0], started[1]
    finally:
        for service in started:
            await stop_service(service)


async def test_a_rebuild_refuses_to_share_the_group(
    service: Service, engine: Engine, producer
) -> None:
    """A rebuild beside a live projector would only get some partitions back: it stops
    before it drops anything."""
    event = event_record(request_record(TEAM, "src_rebuild"))
    await publish(producer, service.settings, "events", [event])
    await service.wait_for("/v1/events", 1, 30, source_id="src_rebuild")
    with pytest.raises(EngineError, match="another projector"):
        await rebuild(service.settings.with_(instance_id="rebuild"), engine)
    assert (await service.get("/v1/events", source_id="src_rebuild"))["count"] == 1


def test_an_unknown_role_fails_at_start(psettings: Settings) -> None:
    with pytest.raises(SettingsError, match="FASTHOOK_PROJECTIONS_ROLE"):
        create_app(psettings.with_(projections_role="both"))


async def test_a_worker_projects_and_a_query_replica_serves(
    replicas: tuple[Service, Service], producer
) -> None:
    worker, query = replicas
    assert PROJECTOR in worker.app and PROJECTOR not in query.app
    # The worker serves its probes only; the query replica's readiness has no projector.
    status, _ = await worker.call("GET", "/v1/events")
    assert status == 404
    status, ready = await query.call("GET", "/readyz", team=None)
    assert status == 200 and "projecting" not in ready["checks"]
    status, ready = await worker.call("GET", "/readyz", team=None)
    assert status == 200 and ready["checks"]["projecting"]

    event = event_record(request_record(TEAM, "src_roles"))
    await publish(producer, worker.settings, "events", [event])
    models = await query.wait_for("/v1/events", 1, 30, source_id="src_roles")
    assert [m["id"] for m in models] == [event["event_id"]]
    # A live tail on a replica without a projector answers after a short wait.
    began = time.monotonic()
    body = await query.get("/v1/events", source_id="src_roles", after_batch=0)
    assert time.monotonic() - began >= 0.9 and body["batch"] == 0
    headers = api_headers(query.settings)
    async with query.http.get(query.url + "/v1/bulk/events/retry", headers=headers) as response:
        assert response.status == 200


async def test_a_job_is_cancelled_through_another_replica(
    psettings: Settings, db: str, producer, bootstrap
) -> None:
    first = await start_service(psettings)
    second: Service | None = None
    try:
        failed = await seed_failed(first, producer)
        first.app[BULK].page_size = 50
        first.app[BULK].pause_s = 0.2
        _, job = await first.call(
            "POST", "/v1/bulk/events/retry", json={"query": {"status": "FAILED"}}
        )
        await until(first, job["id"], lambda b: b["processed_count"] >= 100)
        second = await start_service(
            psettings.with_(
                projections_port=free_port(), analysts_port=free_port(), instance_id="second"
            )
        )
        # The second replica follows the job it does not run, and can cancel it.
        await until(second, job["id"], lambda b: b["status"] == "RUNNING")
        assert job["id"] not in second.app[BULK].workers
        status, cancelled = await second.call("POST", f"/v1/bulk/events/retry/{job['id']}/cancel")
        assert status == 200 and cancelled["status"] == "CANCELLED"
        assert 100 <= cancelled["processed_count"] < len(failed)

        # The runner was fenced: its worker ends, and it sees the job cancelled too.
        async def runner_gone() -> bool:
            return job["id"] not in first.app[BULK].workers

        await eventually(runner_gone, 30, "the first replica's worker fenced", 0.05)
        await until(first, job["id"], lambda b: b["status"] == "CANCELLED")
        sent = await bulk_events(bootstrap, psettings, job["id"])
        assert set(sent.values()) == {1} and sum(sent.values()) == cancelled["processed_count"]
    finally:
        for running in (first, second):
            if running is not None:
                await stop_service(running)


async def job_states(bootstrap: str, topic: str, job_id: str) -> list[Job]:
    """Every committed state of the job on the bulk topic, in order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        ends = await assign_from_beginning(consumer, topic)
        states: list[Job] = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                states += [
                    Job.from_bytes(m.value)
                    for m in messages
                    if m.key == job_id.encode() and m.value is not None
                ]
        return states
    finally:
        await consumer.stop()


async def test_a_stopping_replica_hands_its_job_over_at_once(
    psettings: Settings, db: str, producer, bootstrap
) -> None:
    """A replica stopping (SIGTERM, a rolling update) ends its lease as its last state: the
    others resume the job at their next look, not after the lease (30 s here)."""
    first: Service | None = await start_service(psettings)
    second: Service | None = None
    try:
        assert first is not None
        failed = await seed_failed(first, producer)
        first.app[BULK].page_size = 50
        first.app[BULK].pause_s = 0.2
        _, job = await first.call(
            "POST", "/v1/bulk/events/retry", json={"query": {"status": "FAILED"}}
        )
        second = await start_service(
            psettings.with_(
                projections_port=free_port(), analysts_port=free_port(), instance_id="second"
            )
        )
        await until(second, job["id"], lambda b: b["processed_count"] >= 100)
        await stop_service(first)
        first = None
        done = await until(second, job["id"], lambda b: b["status"] == "COMPLETED")
        assert done["processed_count"] == len(failed)
        states = await job_states(bootstrap, psettings.topics.bulk, job["id"])
        owners = [s.owner for s in states]
        first_name, second_name = (
            psettings.member_name("projections"),
            psettings.with_(instance_id="second").member_name("projections"),
        )
        handover = owners.index(second_name)
        assert set(owners[:handover]) == {first_name}
        assert states[handover - 1].lease_until == 0  # released, not left to lapse
        assert states[-1].owner == second_name and states[-1].token == 2
        sent = await bulk_events(bootstrap, psettings, job["id"])
        assert sorted(sent) == failed and set(sent.values()) == {1}
    finally:
        for running in (first, second):
            if running is not None:
                await stop_service(running)
