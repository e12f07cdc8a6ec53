"""Projector workers scaled out: two `python -m projections` processes in ONE consumer group
share the topics' partitions, and what they wrote together is exactly what one process
projecting everything writes — also when one of them is SIGKILLed mid-stream and the other
takes its partitions over (offsets committed only after the write, idempotent rows: no gap,
and a batch written twice changes nothing). The stopped worker leaves the group, so the other
takes its partitions at once: the embedded broker never evicts a static member that did not
leave (a SIGKILLed one), a Kafka cluster does after the session timeout;
SIGKILL mid-batch and the replay it causes are tests/projections/test_crash.py's.

With the embedded engine each worker writes through the same client code to its own chdb
path (chdb allows one per process), so "together" is the union of the two databases' rows
(table by table, every projected column: an event's facts may sit in both); while it runs, a
killed worker's database is read back by starting it again as a query replica
(`FASTHOOK_PROJECTIONS_ROLE=query`). With `FASTHOOK_TEST_CLICKHOUSE_DSN` set the same test
runs against that server, the two workers sharing one database as a deployment would.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fasthook.embedded import free_port
from projections.clickhouse import Engine, database_name, resolve_dsn
from runtime.settings import Settings
from tests.projections.conftest import BACKENDS, SERVER_DSN, TEAM, api_headers
from tests.projections.records import attempt_record, event_record, publish, request_record
from tests.support.poll import eventually
from tests.support.processes import service_env
from tests.support.projections import ProjectionsProcess

ROUTES = ("/v1/requests", "/v1/events", "/v1/attempts")
PER_PART = 400


@pytest.fixture(params=BACKENDS)
async def target(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """Where the workers write: their own embedded engines, or one ClickHouse server (each
    test its own databases there, dropped afterwards)."""
    if request.param == "chdb":
        yield {"clickhouse_dsn": "", "shared": "", "single": ""}
        return
    suffix = uuid.uuid4().hex[:8]
    names = {
        "clickhouse_dsn": SERVER_DSN,
        "shared": f"scale_{suffix}",
        "single": f"scale_single_{suffix}",
    }
    yield names
    engine = await Engine.open(SERVER_DSN)
    try:
        for name in (names["shared"], names["single"]):
            await engine.command(f"DROP DATABASE IF EXISTS {name}")
    finally:
        await engine.close()


def worker(
    settings: Settings,
    tmp_path: Path,
    name: str,
    target: dict[str, str],
    *,
    database: str,
    group: str = "",
    role: str = "all",
) -> ProjectionsProcess:
    own = settings.with_(
        instance_id=name,
        data_dir=str(tmp_path / name),
        projections_role=role,
        projector_group=group,
        clickhouse_dsn=target["clickhouse_dsn"],
        clickhouse_database=database,
        projections_port=free_port(),
        analysts_port=free_port(),
        # Small batches: a kill lands between (or inside) many of them.
        projector_batch_records=100,
        projector_batch_ms=50,
    )
    return ProjectionsProcess(own, tmp_path / f"{name}.log")


async def ids(http: aiohttp.ClientSession, process: ProjectionsProcess, route: str) -> set[str]:
    """Every id the list route shows (following the pages)."""
    found: set[str] = set()
    params: dict[str, Any] = {"limit": 250}
    while True:
        async with http.get(
            process.url + route, params=params, headers=api_headers(process.settings)
        ) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        found.update(m["id"] for m in body["models"])
        if not body["pagination"]["next"]:
            return found
        params["next"] = body["pagination"]["next"]


async def union(http: aiohttp.ClientSession, *processes: ProjectionsProcess) -> dict[str, set[str]]:
    return {route: set().union(*[await ids(http, p, route) for p in processes]) for route in ROUTES}


async def table_rows(process: ProjectionsProcess) -> dict[str, set[str]]:
    """A stopped process's rows, read from its engine by another process."""
    settings = process.settings
    dsn = settings.clickhouse_dsn or resolve_dsn(settings)
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.table_rows",
        dsn,
        database_name(settings),
        stdout=asyncio.subprocess.PIPE,
        env=service_env(settings),
    )
    out, _ = await asyncio.wait_for(run.communicate(), 120)
    assert run.returncode == 0
    return {table: set(hashes) for table, hashes in json.loads(out).items()}


async def publish_part(producer: Any, settings: Settings) -> list[str]:
    requests = [request_record(TEAM, "src_scale") for _ in range(PER_PART)]
    events = [event_record(r) for r in requests]
    await publish(producer, settings, "requests", requests)
    await publish(producer, settings, "events", events)
    await publish(producer, settings, "attempts", [attempt_record(e) for e in events])
    return [r["request_id"] for r in requests]


async def test_two_workers_in_one_group_converge_to_what_one_process_writes(
    settings: Settings, producer: Any, tmp_path: Path, target: dict[str, str]
) -> None:
    shared = target["shared"]
    first = worker(settings, tmp_path, "w1", target, database=shared)
    second = worker(settings, tmp_path, "w2", target, database=shared)
    reader: ProjectionsProcess | None = None
    single: ProjectionsProcess | None = None
    requests: list[str] = []
    try:
        for process in (first, second):
            process.start()
        for process in (first, second):
            await process.wait_started()
        async with aiohttp.ClientSession() as http:
            requests += await publish_part(producer, settings)

            async def shared_out() -> bool:
                # Both own some partitions: each wrote rows (with one server: both run).
                counts = [len(await ids(http, p, "/v1/requests")) for p in (first, second)]
                together = await union(http, first, second)
                print(f"requests per worker: {counts}")
                return min(counts) > 0 and len(together["/v1/requests"]) == len(requests)

            await eventually(shared_out, 90, "both workers projecting their partitions", 0.2)

            # Mid-stream: more records, and the first worker stopped while it writes them.
            requests += await publish_part(producer, settings)

            async def under_way() -> bool:
                return len((await union(http, first, second))["/v1/requests"]) > PER_PART

            await eventually(under_way, 60, "the second part being projected", 0.02)
            first.signal(signal.SIGTERM)
            assert await first.wait_exit(60) == 0
            # Records the dead worker's partitions get from now on: only a takeover writes them.
            requests += await publish_part(producer, settings)

            # Its database read back by a query replica on the same engine path (no projector).
            reader = worker(settings, tmp_path, "w1", target, database=shared, role="query")
            reader.start()
            await reader.wait_started()

            async def converged() -> dict[str, set[str]]:
                together = await union(http, reader, second)
                complete = all(len(together[r]) == len(requests) for r in ROUTES)
                return together if complete else {}

            together = await eventually(converged, 120, "every record projected", 0.5)
            assert together["/v1/requests"] == set(requests)

            # One process projecting every record on its own (its own group and database).
            single = worker(
                settings,
                tmp_path,
                "single",
                target,
                database=target["single"],
                group=f"{settings.topic_namespace}-one",
            )
            single.start()
            await single.wait_started()

            async def alone() -> dict[str, set[str]]:
                everything = await union(http, single)
                complete = all(len(everything[r]) == len(requests) for r in ROUTES)
                return everything if complete else {}

            assert (
                await eventually(alone, 120, "one process projecting everything", 0.5) == together
            )
        # Row by row, table by table: the workers' rows together are the single process's.
        for process in (reader, second, single):
            process.signal(signal.SIGTERM)
            assert await process.wait_exit(60) == 0
        workers = [await table_rows(p) for p in (reader, second)]
        alone_rows = await table_rows(single)
        for table, rows in alone_rows.items():
            assert workers[0][table] | workers[1][table] == rows, table
        assert len(alone_rows["requests"]) == len(requests)
        assert len(alone_rows["attempts"]) == len(requests)
    finally:
        for process in (first, second, reader, single):
            if process is not None:
                process.kill()
