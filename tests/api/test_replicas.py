"""Two API processes on one config topic: concurrent writes to one entity apply in one total
order or are refused with 409, names stay unique, and both replicas (and any other follower of
the topic) end with the same state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from api.admin import admin_session
from api.view import ConfigView
from fasthook.embedded import free_port
from runtime.kafka import ConfigFollower
from runtime.settings import Settings
from schemas.codec import decode
from schemas.config_fold import ConfigFold, Verdict
from tests.support.api import make_team
from tests.support.kafka import read_topic
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess

WRITERS_PER_REPLICA = 12


@dataclass
class Replica:
    url: str
    http: aiohttp.ClientSession
    headers: dict[str, str]

    async def call(
        self, method: str, path: str, json: Any = None, if_match: int | None = None
    ) -> tuple[int, Any, CIMultiDict[str]]:
        headers = dict(self.headers)
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        async with self.http.request(
            method, self.url + path, json=json, headers=headers
        ) as response:
            return (
                response.status,
                await response.json(content_type=None),
                response.headers.copy(),
            )


@pytest.fixture
async def replicas(settings: Settings, tmp_path: Path) -> AsyncIterator[list[Replica]]:
    async with admin_session(settings) as admin:
        _, key = await make_team(admin, "acme")
    processes = []
    http = aiohttp.ClientSession()
    try:
        for n in range(2):
            replica = settings.with_(api_port=free_port())
            process = ServiceProcess("api", replica, tmp_path / f"api-{n}.log")
            processes.append(process)
            process.start()
        for process in processes:
            await process.wait_ready(process.settings.api_base_url + "/readyz", 60)
        yield [
            Replica(p.settings.api_base_url, http, {"Authorization": f"Bearer {key}"})
            for p in processes
        ]
    finally:
        await http.close()
        for process in processes:
            process.kill()


async def a_connection(one: Replica) -> dict[str, Any]:
    status, source, _ = await one.call("POST", "/v1/sources", {"name": "twilio"})
    assert status == 201, source
    status, destination, _ = await one.call(
        "POST",
        "/v1/destinations",
        {"name": "receiver", "config": {"url": "http://127.0.0.1:9/hook"}},
    )
    assert status == 201, destination
    status, connection, headers = await one.call(
        "POST",
        "/v1/connections",
        {"name": "pipe", "source_id": source["id"], "destination_id": destination["id"]},
    )
    assert status == 201, connection
    assert connection["version"] == 1 and headers["ETag"] == '"1"'
    return connection


def body_of(connection: dict[str, Any], description: str) -> dict[str, Any]:
    return {k: connection[k] for k in ("name", "source_id", "destination_id", "rules")} | {
        "description": description
    }


async def both_hold(replicas: list[Replica], path: str, version: int) -> bool:
    for replica in replicas:
        status, held, _ = await replica.call("GET", path)
        if status != 200 or held["version"] != version:
            return False
    return True


async def test_conditional_updates_from_two_replicas_apply_in_one_order_or_get_409(
    replicas: list[Replica], settings: Settings
) -> None:
    connection = await a_connection(replicas[0])
    path = f"/v1/connections/{connection['id']}"
    # The other replica reads the first one's write (from the topic) before racing it.
    await eventually(lambda: both_hold(replicas, path, 1), 30, "both replicas hold it")

    async def writer(replica: Replica, label: str) -> tuple[int, int | None, str]:
        status, seen, _ = await replica.call("GET", path)
        assert status == 200
        status, written, headers = await replica.call(
            "PUT", path, body_of(connection, label), if_match=seen["version"]
        )
        assert status in (200, 409), (status, written)
        if status == 409:
            assert headers["Content-Type"].startswith("application/problem+json")
            return status, None, label
        assert written["description"] == label and headers["ETag"] == f'"{written["version"]}"'
        return status, written["version"], label

    outcomes = await asyncio.gather(
        *(
            writer(replica, f"{n}-{i}")
            for n, replica in enumerate(replicas)
            for i in range(WRITERS_PER_REPLICA)
        )
    )
    accepted = sorted(
        (version, label)
        for status, version, label in outcomes
        if status == 200 and version is not None
    )
    # Every accepted write made the next version of the one before it: one total order.
    assert [v for v, _ in accepted] == list(range(2, 2 + len(accepted)))
    assert 1 <= len(accepted) < len(outcomes)  # the race was real: someone was refused
    final_version, final_label = accepted[-1]

    await eventually(lambda: both_hold(replicas, path, final_version), 30, "the final state")
    finals = [(await replica.call("GET", path))[1] for replica in replicas]
    assert finals[0] == finals[1] and finals[0]["description"] == final_label

    # Any other follower of the topic (a router, a deliverer) folds the same state.
    view = ConfigView()
    follower = ConfigFollower(settings.kafka_bootstrap, settings.topics.config, view.apply)
    await follower.start()
    try:
        await follower.wait_caught_up(30)
        held = view.get("connection", connection["id"])
        assert held is not None and held.version == final_version
        assert held.entity["description"] == final_label
    finally:
        await follower.stop()

    # What compaction leaves (each key's last record) folds to the same state: a refused
    # write was restated by its writer, so it is never a key's last record.
    assert compacted_state(
        await read_topic(settings.kafka_bootstrap, settings.topics.config, raw=True)
    ) == folded_state(view)

    # A stale version is refused at once; a version this replica never saw, too.
    status, problem, _ = await replicas[1].call(
        "PUT", path, body_of(connection, "late"), if_match=final_version - 1
    )
    assert status == 409 and "version" in problem["detail"]
    status, _, _ = await replicas[1].call(
        "PUT", path, body_of(connection, "early"), if_match=final_version + 5
    )
    assert status == 409


def compacted_state(messages: list[Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    last = {m.key.decode(): m for m in messages}
    view = ConfigView()
    fold = ConfigFold()
    for m in sorted(last.values(), key=lambda m: m.offset):
        record = decode(m.value) if m.value is not None else None
        if fold.fold(m.key.decode(), record) is Verdict.ACCEPTED:
            view.apply(m.key.decode(), record)
    return folded_state(view)


def folded_state(view: ConfigView) -> dict[str, tuple[int, dict[str, Any]]]:
    return {
        entity["id"]: (held.version, entity)
        for kind, entity in view.every()
        if (held := view.get(kind, entity["id"])) is not None
    }


async def test_unconditional_updates_from_two_replicas_all_apply_in_one_order(
    replicas: list[Replica],
) -> None:
    connection = await a_connection(replicas[1])
    path = f"/v1/connections/{connection['id']}"
    await eventually(lambda: both_hold(replicas, path, 1), 30, "both replicas hold it")
    actions = ["pause", "unpause"] * (WRITERS_PER_REPLICA // 2)

    async def act(replica: Replica, action: str) -> int:
        status, written, _ = await replica.call("PUT", f"{path}/{action}")
        assert status == 200, written
        return int(written["version"])

    versions = await asyncio.gather(
        *(act(replica, action) for replica in replicas for action in actions)
    )
    # A write without If-Match is made again on whatever beat it: none is lost or merged.
    assert sorted(versions) == list(range(2, 2 + len(versions)))
    await eventually(lambda: both_hold(replicas, path, 1 + len(versions)), 30, "final state")


async def test_one_name_created_at_once_on_two_replicas_is_taken_once(
    replicas: list[Replica],
) -> None:
    async def create(replica: Replica) -> tuple[int, Any]:
        status, body, _ = await replica.call("POST", "/v1/sources", {"name": "contested"})
        return status, body

    outcomes = await asyncio.gather(
        *(create(replica) for replica in replicas for _ in range(WRITERS_PER_REPLICA))
    )
    created = [body for status, body in outcomes if status == 201]
    assert sorted({status for status, _ in outcomes}) == [201, 409] and len(created) == 1

    async def both_list_one() -> bool:
        for replica in replicas:
            _, page, _ = await replica.call("GET", "/v1/sources?name=contested")
            if [s["id"] for s in page["models"]] != [created[0]["id"]]:
                return False
        return True

    await eventually(both_list_one, 30, "both replicas list the one source named contested")
    # Renaming another source to the name is refused the same way; freeing the name frees it.
    status, other, _ = await replicas[1].call("POST", "/v1/sources", {"name": "other"})
    assert status == 201
    status, _, _ = await replicas[1].call(
        "PUT", f"/v1/sources/{other['id']}", {"name": "contested"}
    )
    assert status == 409
    status, _, _ = await replicas[0].call("DELETE", f"/v1/sources/{created[0]['id']}")
    assert status == 200
    status, renamed, _ = await replicas[0].call(
        "PUT", f"/v1/sources/{other['id']}", {"name": "contested"}
    )
    assert status == 200 and renamed["version"] == 2
