"""`fasthook listen` throughput and forward latency: events through one session to a local
server, by way of the deliverer, the API's relay and the CLI's socket.

- throughput: N events of the session's connection already on the events topic; the
  deliverer sends them (through the relay, to the CLI, to a fast local server); events/s.
- latency at a steady rate: events published at R/s; the time from publishing each event to
  the local server receiving it (p50/p99). This is the forward path alone: ingress and router
  are measured by the pipeline benchmark.

The session is a real `fasthook listen` subprocess in its default mode on a terminal, the one
a developer watches: interactive, on a pseudo-terminal (160 x 40) whose screen is read all along;
provisioned through the API as a developer's would be.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from api.admin import admin_session
from bench.cpu import snapshot
from bench.load import percentile
from bench.pipeline import Receiver, Stack, event_record, preload
from bench.procs import Child, TerminalChild, python, wait_for
from bench.report import Report
from fasthook.embedded import free_port
from runtime import heap
from runtime.kafka import make_producer
from runtime.settings import load_settings
from schemas.ids import new_id

AIM_EVENTS_S = 500
AIM_P99_MS = 50


def listen_event(connection: dict[str, Any], team_id: str) -> tuple[str, bytes]:
    event_id = new_id("evt")
    now = int(time.time() * 1000)
    return event_id, event_record(team_id, connection, now, event_id, new_id("req"), "/status")


class ByEvent(Receiver):
    """The pipeline's fast receiver, noting arrivals by event id (the records carry no
    request the ingress made)."""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrived.setdefault(request.headers.get("x-fasthook-event-id", ""), time.monotonic())
        self._arrival.set()
        return web.Response(status=204)


async def team_key(stack: Stack) -> tuple[str, str]:
    async with admin_session(load_settings(stack.env)) as admin:
        team = await admin.create_team("bench")
        key, _ = await admin.create_key("bench", [team["id"]])
    return team["id"], key


async def session_connection(api_url: str, key: str, cli_log: Path) -> dict[str, Any]:
    """Once the session says it is connected: its connection."""
    deadline = time.monotonic() + 60
    while "connected" not in (said := await asyncio.to_thread(cli_log.read_text)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"listen never connected: {said[-2000:]}")
        await asyncio.sleep(0.1)
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http,
        http.get(f"{api_url}/v1/connections") as answer,
    ):
        models: list[dict[str, Any]] = (await answer.json())["models"]
    return models[0]


async def direct_connection(
    http: aiohttp.ClientSession, api_url: str, receiver: ByEvent, source_id: str
) -> dict[str, Any]:
    """The baseline: an HTTP destination at the same local server, no relay in between."""
    async with http.post(
        f"{api_url}/v1/destinations",
        json={
            "name": "direct",
            "config": {
                "url": f"http://127.0.0.1:{receiver.port}/status",
                "auth_type": "FASTHOOK_SIGNATURE",
            },
        },
    ) as answer:
        destination = await answer.json()
    async with http.post(
        f"{api_url}/v1/connections",
        json={"name": "direct", "source_id": source_id, "destination_id": destination["id"]},
    ) as answer:
        connection: dict[str, Any] = await answer.json()
    return connection


def cpu_per_event(before: dict[str, float], after: dict[str, float], n: int) -> str:
    """CPU milliseconds per event of each process: what the load of the machine (other work
    on the 2 cores) does not change, where the events/s figure halves."""
    return ", ".join(
        f"{name} {(after[name] - before[name]) * 1000 / n:.2f}"
        for name in before
        if name != "machine"
    )


async def throughput(
    stack: Stack,
    connection: dict[str, Any],
    team_id: str,
    receiver: ByEvent,
    n: int,
    what: str,
    groups: dict[str, int],
) -> list[str]:
    records = [listen_event(connection, team_id) for _ in range(n)]
    cpu_before = snapshot(groups)
    started = time.monotonic()
    await preload(
        stack.broker.bootstrap,
        stack.topics.events,
        [(event_id.encode(), value) for event_id, value in records],
    )
    wanted = {event_id for event_id, _ in records}
    await receiver.wait_all(wanted, 300)
    seconds = time.monotonic() - started
    cpu = cpu_per_event(cpu_before, snapshot(groups), n)
    lost = len(wanted - set(receiver.arrived))
    return [
        f"{what} ({n} events preloaded)",
        f"{n}",
        f"{(n - lost) / seconds:,.0f} events/s",
        "",
        (f"{lost} missing; " if lost else "") + f"CPU ms/event: {cpu}",
    ]


async def latency(
    stack: Stack,
    connection: dict[str, Any],
    team_id: str,
    receiver: ByEvent,
    rate: int,
    duration_s: float,
    what: str,
) -> list[str]:
    producer = make_producer(stack.broker.bootstrap)
    await producer.start()
    sent_at: dict[str, float] = {}
    try:
        began = time.monotonic()
        for i in range(int(rate * duration_s)):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event_id, value = listen_event(connection, team_id)
            sent_at[event_id] = time.monotonic()
            await producer.send(stack.topics.events, value, key=event_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    await receiver.wait_all(set(sent_at), 60)
    lags = sorted(
        (receiver.arrived[e] - t) * 1000 for e, t in sent_at.items() if e in receiver.arrived
    )
    lost = len(sent_at) - len(lags)
    return [
        f"{what} at {rate}/s (event published → local server)",
        f"{len(sent_at)}",
        f"p50 {percentile(lags, 0.50):.1f} ms",
        f"p99 {percentile(lags, 0.99):.1f} ms",
        f"{lost} not forwarded within 60 s" if lost else "",
    ]


async def measure(
    stack: Stack, api_url: str, tmp: Path, n: int, duration_s: float, groups: dict[str, int]
) -> list[list[str]]:
    team_id, key = await team_key(stack)
    receiver = ByEvent()
    await receiver.start()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        for _ in range(600):  # the API's view follows the config topic: the key shows soon
            async with http.get(f"{api_url}/v1/team") as answer:
                if answer.status == 200:
                    break
            await asyncio.sleep(0.05)
        async with http.post(f"{api_url}/v1/sources", json={"name": "bench"}) as answer:
            assert answer.status == 201, await answer.text()
            source = await answer.json()
        direct = await direct_connection(http, api_url, receiver, source["id"])
    cli_log = tmp / "listen.log"
    env = {**stack.env, "FASTHOOK_API_URL": api_url, "FASTHOOK_API_KEY": key}
    # The measuring process (the local server, the clock) must not pause to collect either.
    heap.settle()
    with TerminalChild(
        "listen",
        python("-m", "fasthook", "listen", str(receiver.port), "--source", "bench"),
        cli_log,
        env,
    ) as cli:
        groups = {**groups, "cli": cli.pgid}
        connection = await session_connection(api_url, key, cli_log)
        # Warm-up: the deliverer's view has the session's destination and connection.
        while not receiver.arrived:
            await preload(
                stack.broker.bootstrap,
                stack.topics.events,
                [(b"w", listen_event(connection, team_id)[1])],
            )
            await asyncio.sleep(0.3)
        rows = [
            await throughput(
                stack, connection, team_id, receiver, n, "through one session", groups
            ),
            await latency(stack, connection, team_id, receiver, 100, duration_s, "forward latency"),
            await throughput(
                stack,
                direct,
                team_id,
                receiver,
                n,
                "baseline: HTTP destination, same server",
                groups,
            ),
            await latency(stack, direct, team_id, receiver, 100, duration_s, "baseline latency"),
        ]
    assert receiver.runner is not None
    await receiver.runner.cleanup()
    return rows


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    n = 1_000 if quick else 5_000
    duration = duration_s or (3.0 if quick else 10.0)
    report = Report(
        "fasthook listen: one session to a local server",
        ["what", "count", "throughput / p50", "p99", "notes"],
    )
    with ExitStack() as ctx:
        tmp = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-listen-")))
        stack = Stack(tmp)
        ctx.callback(stack.stop)
        stack.ports["api"] = free_port()
        stack.settings = stack.settings.with_(api_port=stack.ports["api"])
        stack.use_namespace("bench-listen")
        api = ctx.enter_context(Child("api", python("-m", "api"), tmp / "api.log", stack.env))
        wait_for(api, stack.ports["api"], "GET", "/readyz", timeout_s=90)
        ctx.enter_context(stack.start("router"))
        deliverer = ctx.enter_context(stack.start("deliverer"))
        groups = {"deliverer": deliverer.pgid, "api": api.pgid}
        rows = asyncio.run(
            measure(stack, f"http://127.0.0.1:{stack.ports['api']}", tmp, n, duration, groups)
        )
    report.rows += rows
    events_s = float(rows[0][2].split()[0].replace(",", ""))
    p99 = float(rows[1][3].split()[1])
    report.aims.append(
        (
            f"≥ {AIM_EVENTS_S} events/s through one session: {events_s:,.0f}",
            events_s >= AIM_EVENTS_S and "missing" not in rows[0][4],
        )
    )
    report.aims.append(
        (
            f"p99 forward latency under {AIM_P99_MS} ms at 100 events/s: {p99:.1f} ms",
            p99 < AIM_P99_MS and not rows[1][4],
        )
    )
    report.notes.append(
        "2 cores: broker, API (relay), router, deliverer, the CLI and the local "
        "server share them; one worker each."
    )
    report.notes.append(
        "The session runs interactive on a pseudo-terminal (the live list a "
        "developer watches), not --output quiet."
    )
    report.notes.append(
        "CPU ms/event: each process's CPU time over the throughput run, per "
        "event (the local server runs in the benchmark's own process); "
        "the load of the machine changes events/s, much less these."
    )
    report.notes.append(json.dumps({"events": n, "latency_seconds": duration}))
    return report
