"""The whole gateway as `make run` starts it, under Twilio-like load, while its parts are killed,
the receiver goes away for 30 s and the broker stops for 10 s: nothing answered 200 is lost.

`make test` runs it for CHAOS_MINUTES (default: one fault cycle, under two minutes of load);
`make chaos MINUTES=N` for as long as asked.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from schemas.topics import Topics
from tests.chaos.load import Load, Target
from tests.chaos.receiver import LoggingReceiver
from tests.chaos.schedule import MIN_DURATION_S, Fault, schedule
from tests.chaos.verify import FaultRun, Route, snapshot, verdict
from tests.support.poll import eventually
from tests.support.supervised import SupervisedStack

DURATION_S = max(MIN_DURATION_S, float(os.environ.get("CHAOS_MINUTES", "0")) * 60)
RATE_PER_S = 20.0
SETTLE_S = 240.0  # after the load: until every event is final and ClickHouse equals the topics
TOKEN = "0123456789abcdef0123456789abcdef"
RETRY = {
    "type": "retry",
    "strategy": "linear",
    "count": 30,
    "interval": 5000,
    "response_status_codes": ["500-599"],
}
TRANSFORM = (
    "addHandler('transform', (request, context) => {"
    " request.headers['x-chaos-transformed'] = 'yes'; return request; });"
)
ROUTES = [
    Route("all-with-retries", "messaging", "/all", None, retries=True),
    Route(
        "failed-transformed-with-retries",
        "messaging",
        "/failed",
        frozenset({"failed", "undelivered"}),
        retries=True,
        transformed=True,
    ),
    Route("voice-without-retries", "voice", "/voice", None, retries=False),
]


def rules(route: Route) -> list[dict]:
    out: list[dict] = []
    if route.statuses is not None:
        out.append({"type": "filter", "body": {"MessageStatus": {"$in": sorted(route.statuses)}}})
    if route.transformed:
        out.append({"type": "transformation", "code": TRANSFORM})
    if route.retries:
        out.append(RETRY)
    return out


async def configure(
    http: aiohttp.ClientSession, run: dict[str, str], receiver_url: str
) -> tuple[list[Target], list[Route]]:
    """A Twilio-signed messaging source, the demo source as a voice one, and the connections."""
    auth = {"Authorization": f"Bearer {run['key']}"}

    async def post(path: str, body: dict) -> dict:
        async with http.post(run["api"] + path, json=body, headers=auth) as response:
            assert response.status == 201, (path, await response.text())
            return await response.json()

    messaging = await post(
        "/v1/sources",
        {
            "name": "twilio-messaging",
            "config": {
                "auth_type": "TWILIO",
                "auth": {"auth_token": TOKEN},
                "allowed_http_methods": ["POST"],
            },
        },
    )
    sources = {"messaging": messaging["id"], "voice": run["source_id"]}
    routes = []
    for route in ROUTES:
        destination = await post(
            "/v1/destinations",
            {
                "name": route.name,
                "type": "HTTP",
                "config": {
                    "url": receiver_url + route.path,
                    "http_method": "POST",
                    "auth_type": "FASTHOOK_SIGNATURE",
                    "auth": {},
                },
            },
        )
        connection = await post(
            "/v1/connections",
            {
                "name": route.name,
                "source_id": sources[route.target],
                "destination_id": destination["id"],
                "rules": rules(route),
            },
        )
        routes.append(dataclasses.replace(route, connection_id=connection["id"]))
    targets = [
        Target("messaging", messaging["url"] + "/twilio/status", TOKEN),
        Target("messaging", messaging["url"] + "/twilio/status", TOKEN),
        Target("voice", run["source_url"] + "/twilio/voice/status"),
    ]
    return targets, routes


async def warm_up(load: Load, receiver: LoggingReceiver) -> None:
    """Until a callback went all the way through every connection: every service's view has
    the new configuration (each probe is a real callback, counted like the load)."""

    async def through() -> bool:
        async with aiohttp.ClientSession() as http:
            for target in {t.name: t for t in load.targets}.values():
                await load.send(http, target, "failed")
        await asyncio.sleep(0.5)
        return {d.path for d in receiver.deliveries()} >= {r.path for r in ROUTES}

    await eventually(through, 90, "a callback delivered through every connection", 0.5)


async def inflict(fault: Fault, stack: SupervisedStack, receiver: LoggingReceiver) -> FaultRun:
    started = time.monotonic()
    if fault.kind == "receiver_down":
        await receiver.stop()
        try:
            await asyncio.sleep(fault.hold_s)  # the outage itself, not a wait for a condition
        finally:
            await receiver.start()
        return FaultRun(fault, started, time.monotonic())
    if fault.kind == "broker_stop":
        stack.signal_child("broker", signal.SIGSTOP)
        try:
            await asyncio.sleep(fault.hold_s)
        finally:
            stack.signal_child("broker", signal.SIGCONT)
        return FaultRun(fault, started, time.monotonic())
    killed = stack.signal_child(fault.target, signal.SIGKILL)

    async def restarted() -> bool:
        pid = stack.child_pid(fault.target)
        return pid is not None and pid != killed and await stack.ready(fault.target)

    try:
        await eventually(restarted, 60, f"{fault.target} restarted and ready", 0.1)
        detail = f"pid {killed} killed; ready after {time.monotonic() - started:.1f} s"
    except AssertionError:
        detail = f"pid {killed} killed; not ready within 60 s"
    return FaultRun(fault, started, started, detail)


async def run_faults(
    faults: list[Fault], began: float, stack: SupervisedStack, receiver: LoggingReceiver
) -> list[FaultRun]:
    runs = []
    for fault in faults:
        await asyncio.sleep(max(0.0, began + fault.at_s - time.monotonic()))
        runs.append(await inflict(fault, stack, receiver))
    return runs


@pytest.mark.slow
@pytest.mark.timeout(DURATION_S + SETTLE_S + 600)
async def test_nothing_answered_200_is_lost_under_chaos(tmp_path: Path):
    # A short produce timeout: a stopped broker is answered 503 within moments.
    stack = SupervisedStack(tmp_path, FASTHOOK_PRODUCE_TIMEOUT_S="3")
    receiver = LoggingReceiver(tmp_path / "receiver.log")
    faults: asyncio.Task | None = None
    try:
        run = await stack.start()  # a broker or ClickHouse that cannot start fails here
        await receiver.start()
        async with aiohttp.ClientSession() as http:
            targets, routes = await configure(http, run, receiver.url)
        load = Load(targets, RATE_PER_S)
        await warm_up(load, receiver)

        began = time.monotonic()
        faults = asyncio.create_task(run_faults(schedule(DURATION_S), began, stack, receiver))
        await load.run(DURATION_S)
        runs = await faults

        async def settled():
            snap = await snapshot(run["api"], run["key"], stack.bootstrap, Topics("fasthook"))
            return snap if snap.settled() else None

        try:
            snap = await eventually(settled, SETTLE_S, "every event final, counts equal", 5)
        except AssertionError:  # the verdict below names what is stuck or missing
            snap = await snapshot(run["api"], run["key"], stack.bootstrap, Topics("fasthook"))
        report = verdict(load.sent, receiver.deliveries(), snap, routes, runs)
        table = report.table()
        (tmp_path / "chaos-report.md").write_text(table + "\n")
        # Every callback and its answer, for tracing an id the verdict names.
        (tmp_path / "sent.jsonl").write_text(
            "".join(json.dumps(dataclasses.asdict(s)) + "\n" for s in load.sent)
        )
        print(
            f"\nchaos run: {DURATION_S:g} s of load at {RATE_PER_S:g}/s\n{table}\n"
            + "\n".join(
                f"fault: {r.fault.label} at {r.fault.at_s:.1f} s: {r.detail}"
                for r in runs
                if r.detail
            )
        )
        assert not report.problems, "\n".join(report.problems[:40]) + f"\n\n{table}"
        await stack.stop()
    finally:
        if faults is not None and not faults.done():
            faults.cancel()  # its own finally resumes a stopped broker, restarts the receiver
            await asyncio.gather(faults, return_exceptions=True)
        await receiver.stop()
        receiver.close()
        stack.kill()
