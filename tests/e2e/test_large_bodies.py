"""Every body the ingress accepts routes, delivers and is stored: a 1.5 MB body and one of the
largest size a source accepts (schemas.limits.MAX_BODY_BYTES) go ingress → router → deliverer →
a real receiver byte for byte, and the projector stores them (raw_body serves them back)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from fasthook.embedded import free_port
from projections.clickhouse import database_name
from projections.migrations import migrate
from runtime.settings import Settings
from schemas.limits import MAX_BODY_BYTES
from tests.projections.conftest import start_service, stop_service
from tests.support.api import start_api, stop_api
from tests.support.deliverer import start_deliverer
from tests.support.http import send_raw
from tests.support.ingress import start_ingress
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess
from tests.support.receiver import Receiver

OCTETS = ("Content-Type", "application/octet-stream")


@pytest.fixture
def settings(settings: Settings, engine, topics) -> Settings:
    return settings.with_(allowed_destinations="127.0.0.1/32", router_port=free_port(),
                          projections_port=free_port(), clickhouse_dsn=engine.dsn,
                          clickhouse_database=topics.namespace, projector_batch_ms=50)


@pytest.fixture
async def stack(settings: Settings, engine, tmp_path) -> AsyncIterator[dict]:
    await migrate(engine, database_name(settings), settings.projections_retention_days)
    ingress = await start_ingress(settings)
    settings = settings.with_(public_url=ingress.base_url)
    projections = await start_service(settings)
    api = await start_api(settings)
    router = ServiceProcess("router", settings, tmp_path / "router.log")
    router.start()
    deliverer = await start_deliverer(settings)
    receiver = await Receiver().start()
    try:
        await router.wait_ready(f"http://127.0.0.1:{settings.router_port}/readyz", 60)
        yield {"api": api, "receiver": receiver, "router": router}
    finally:
        await receiver.stop()
        await deliverer.runner.cleanup()
        router.kill()
        await stop_api(api)
        await stop_service(projections)
        await ingress.runner.cleanup()
        await engine.command(f"DROP DATABASE IF EXISTS {database_name(settings)}")


async def test_large_bodies_arrive_byte_for_byte_and_are_stored(stack):
    api, receiver, router = stack["api"], stack["receiver"], stack["router"]
    _, source = await api.call("POST", "/v1/sources", {"name": "big"})
    _, destination = await api.call("POST", "/v1/destinations", {
        "name": "receiver", "config": {"url": receiver.url + "/big"}})
    status, _ = await api.call("POST", "/v1/connections", {
        "name": "big", "source_id": source["id"], "destination_id": destination["id"]})
    assert status == 201

    # Random bytes: nothing along the way may re-encode, trim or compress its way to a fit.
    bodies = {"1.5 MB": os.urandom(1_500_000), "the limit": os.urandom(MAX_BODY_BYTES)}
    url = source["url"] + "/upload"

    async def served() -> bool:
        probe = await send_raw(url, "POST", [OCTETS], b"probe")
        assert probe.status in (200, 404)
        return probe.status == 200
    await eventually(served, 10, "the source served")
    ids = {}
    for name, body in bodies.items():
        answer = await send_raw(url, "POST", [OCTETS], body)
        assert answer.status == 200, (name, answer.status)
        ids[name] = answer.header("x-fasthook-request-id")

    async def delivered() -> dict[str, bytes]:
        got = {r.header("x-fasthook-request-id"): r.body for r in receiver.received}
        assert router.process is not None and router.process.poll() is None, (
            "the router died: " + router.log_path.read_text()[-3000:])
        return got if set(ids.values()) <= set(got) else {}
    got = await eventually(delivered, 60, "both large bodies delivered", interval_s=0.2)
    for name, body in bodies.items():
        assert len(got[ids[name]]) == len(body), name
        assert got[ids[name]] == body, name

    async def stored(request_id: str) -> bytes | None:
        async with api.http.get(f"{api.url}/v1/requests/{request_id}/raw_body",
                                headers=api.headers()) as response:
            return await response.read() if response.status == 200 else None
    for name, body in bodies.items():
        raw = await eventually(lambda i=ids[name]: stored(i), 60, f"{name} stored",
                               interval_s=0.2)
        assert raw == body, name
