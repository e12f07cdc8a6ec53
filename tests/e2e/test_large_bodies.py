"""Every body the ingress accepts routes, delivers and is stored: a 1.5 MB body and one of the
largest size a source accepts (schemas.limits.MAX_BODY_BYTES) go ingress → router → deliverer →
a real receiver byte for byte, and the projector stores them (raw_body serves them back)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from schemas.limits import MAX_BODY_BYTES
from tests.support.http import send_raw
from tests.support.poll import eventually
from tests.support.receiver import Receiver
from tests.support.stack import Stack, running_stack, stack_settings

OCTETS = ("Content-Type", "application/octet-stream")


@pytest.fixture
def settings(settings: Settings, engine) -> Settings:
    return stack_settings(settings, engine)


@pytest.fixture
async def stack(settings: Settings, engine, tmp_path) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, tmp_path, Receiver()) as running:
        yield running


async def test_large_bodies_arrive_byte_for_byte_and_are_stored(stack):
    api, receiver, router = stack.api, stack.receiver, stack.router
    _, source = await api.call("POST", "/v1/sources", {"name": "big"})
    _, destination = await api.call(
        "POST", "/v1/destinations", {"name": "receiver", "config": {"url": receiver.url + "/big"}}
    )
    status, _ = await api.call(
        "POST",
        "/v1/connections",
        {"name": "big", "source_id": source["id"], "destination_id": destination["id"]},
    )
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
            "the router died: " + router.log_path.read_text()[-3000:]
        )
        return got if set(ids.values()) <= set(got) else {}

    got = await eventually(delivered, 60, "both large bodies delivered", interval_s=0.2)
    for name, body in bodies.items():
        assert len(got[ids[name]]) == len(body), name
        assert got[ids[name]] == body, name

    async def stored(request_id: str) -> bytes | None:
        async with api.http.get(
            f"{api.url}/v1/requests/{request_id}/raw_body", headers=api.headers()
        ) as response:
            return await response.read() if response.status == 200 else None

    for name, body in bodies.items():
        raw = await eventually(lambda i=ids[name]: stored(i), 60, f"{name} stored", interval_s=0.2)
        assert raw == body, name
