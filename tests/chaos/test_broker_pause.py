"""The broker stops (SIGSTOP) and resumes, again and again, under load: every request it
stored — answered 200 or answered 503 and stored anyway at resume — is routed.

A pause longer than the router's session timeout makes the group rebalance at resume, while
the producers' retried batches land: the moment the chaos run lost a request in (a request at
the head of a batch written at resume, committed past and never routed).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from schemas.topics import Topics
from tests.chaos.load import Load
from tests.chaos.receiver import LoggingReceiver
from tests.chaos.schedule import Fault
from tests.chaos.test_chaos import configure, inflict, warm_up
from tests.chaos.verify import snapshot, verdict
from tests.support.poll import eventually
from tests.support.supervised import SupervisedStack

PAUSES = 3
PAUSE_S = 12.0  # past the router's 10 s session timeout: the group rebalances at resume
GAP_S = 8.0  # load between pauses
RATE_PER_S = 25.0


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_every_request_stored_across_broker_pauses_is_routed(tmp_path: Path):
    stack = SupervisedStack(tmp_path, FASTHOOK_PRODUCE_TIMEOUT_S="3")
    receiver = LoggingReceiver(tmp_path / "receiver.log")
    try:
        run = await stack.start()
        await receiver.start()
        async with aiohttp.ClientSession() as http:
            targets, routes = await configure(http, run, receiver.url)
        load = Load(targets, RATE_PER_S)
        await warm_up(load, receiver)

        faults = [
            Fault(GAP_S + n * (PAUSE_S + GAP_S), "broker_stop", "broker", PAUSE_S)
            for n in range(PAUSES)
        ]
        duration = PAUSES * (PAUSE_S + GAP_S) + GAP_S
        began = time.monotonic()

        async def pauses() -> list:
            runs = []
            for fault in faults:
                await asyncio.sleep(max(0.0, began + fault.at_s - time.monotonic()))
                runs.append(await inflict(fault, stack, receiver))
            return runs

        pausing = asyncio.create_task(pauses())
        await load.run(duration)
        runs = await pausing

        async def settled():
            snap = await snapshot(run["api"], run["key"], stack.bootstrap, Topics("fasthook"))
            return snap if snap.settled() else None

        try:
            snap = await eventually(settled, 180, "every event final, counts equal", 3)
        except AssertionError:
            snap = await snapshot(run["api"], run["key"], stack.bootstrap, Topics("fasthook"))
        report = verdict(load.sent, receiver.deliveries(), snap, routes, runs)
        print("\n" + report.table())
        assert not report.problems, "\n".join(report.problems[:40])
        await stack.stop()
    finally:
        await receiver.stop()
        receiver.close()
        stack.kill()
