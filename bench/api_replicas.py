"""API replicas: what a write costs now that its writer reads it back from the config topic,
how soon the other replica serves it, and what two replicas racing on one connection get.

Two `python -m api` processes on the embedded broker. Measured side by side in one run:
- sequential updates of one connection on one replica (write, read back, answer);
- the same, alternating replicas (each write waits until the other replica's write is read);
- a write on replica A until replica B answers its version;
- writers on both replicas racing with If-Match: accepted and refused per second.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp

from bench.console import declare, make_key
from bench.load import percentile
from bench.pipeline import Stack
from bench.procs import Child, python, wait_for
from bench.report import Report
from fasthook.embedded import free_port
from runtime.settings import load_settings, settings_environment

RACERS_PER_REPLICA = 8


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores"


def body_of(connection: dict[str, Any], description: str) -> dict[str, Any]:
    return {k: connection[k] for k in ("name", "source_id", "destination_id", "rules")} | {
        "description": description
    }


async def measure(apis: list[str], key: str, seconds: float) -> dict[str, Any]:
    made = await declare(apis[0], key)
    connection = made["connection"]
    path = f"/v1/connections/{connection['id']}"
    figures: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:

        async def put(api: str, label: str, version: int | None = None) -> tuple[int, Any]:
            headers = {"If-Match": f'"{version}"'} if version else {}
            async with http.put(
                api + path, json=body_of(connection, label), headers=headers
            ) as answer:
                return answer.status, await answer.json()

        async def version_on(api: str) -> int:
            async with http.get(api + path) as answer:
                return int((await answer.json())["version"])

        for name, targets in (("one replica", apis[:1]), ("alternating", apis)):
            took, deadline, n = [], time.monotonic() + seconds, 0
            while time.monotonic() < deadline:
                began = time.perf_counter()
                status, _ = await put(targets[n % len(targets)], f"{name}-{n}")
                assert status == 200, status
                took.append((time.perf_counter() - began) * 1000)
                n += 1
            figures[name] = sorted(took)

        lags, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            began = time.perf_counter()
            status, written = await put(apis[0], "lag")
            assert status == 200, status
            seen = 0
            while seen < written["version"]:  # each poll is a round trip of its own
                seen = await version_on(apis[1])
            lags.append((time.perf_counter() - began) * 1000)
        figures["seen by the other"] = sorted(lags)

        counts = {200: 0, 409: 0}
        stop = time.monotonic() + seconds

        async def racer(api: str, n: int) -> None:
            while time.monotonic() < stop:
                status, _ = await put(api, f"race-{n}", await version_on(api))
                counts[status] = counts.get(status, 0) + 1

        await asyncio.gather(*(racer(api, n) for api in apis for n in range(RACERS_PER_REPLICA)))
        figures["race"] = (
            counts[200] / seconds,
            counts[409] / seconds,
            await version_on(apis[0]) == await version_on(apis[1]),
        )
    return figures


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    seconds = duration_s or (3.0 if quick else 10.0)
    report = Report(
        "API replicas: config writes read back from the topic",
        ["what", "writes", "p50", "p99", "notes"],
    )
    with ExitStack() as ctx:
        tmp = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-replicas-")))
        stack = Stack(tmp)
        ctx.callback(stack.stop)
        key = asyncio.run(make_key(load_settings(stack.env)))
        apis = []
        for n in range(2):
            port = free_port()
            env = settings_environment(stack.settings.with_(api_port=port))
            child = ctx.enter_context(
                Child(f"api-{n}", python("-m", "api"), tmp / f"api-{n}.log", env)
            )
            wait_for(child, port, "GET", "/readyz", timeout_s=120)
            apis.append(f"http://127.0.0.1:{port}")
        figures = asyncio.run(measure(apis, key, seconds))
    for name, note in (
        ("one replica", "PUT answered after its record is read back"),
        ("alternating", "each PUT on the replica that did not write last"),
        ("seen by the other", "PUT on A until GET on B has its version"),
    ):
        took = figures[name]
        report.rows.append(
            [
                name,
                str(len(took)),
                f"{percentile(took, 0.5):.1f} ms",
                f"{percentile(took, 0.99):.1f} ms",
                note,
            ]
        )
    accepted, refused, same = figures["race"]
    report.rows.append(
        [
            f"{2 * RACERS_PER_REPLICA} racers, If-Match",
            "-",
            f"{accepted:.0f}/s accepted",
            f"{refused:.0f}/s refused (409)",
            "GET then conditional PUT, both replicas",
        ]
    )
    report.aims.append(("both replicas end on the same version after the race", same))
    report.notes.append(load_note())
    return report
