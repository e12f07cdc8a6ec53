"""Analysts beside the live gateway: ingest → searchable latency idle, and while analysts run
heavy queries on the endpoint (as many as FASTHOOK_ANALYSTS_MAX_CONCURRENT allows, each at
its max_threads, back to back).

A request is posted to ingress (a real source) and timed until the query API's `q` search
finds it, as a user watching the console would; the same measurement runs again while the
analysts' heavy queries keep the engine busy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack

from api.config_log import publish_entity
from api.entities import new_analyst
from bench.load import percentile
from bench.pipeline import Stack, source_stack
from bench.procs import Child, python, wait_for
from bench.report import Report
from fasthook.embedded import free_port
from runtime.kafka import make_producer
from runtime.secrets import PROJECTIONS_TOKEN_HEADER, TEAM_HEADER, projections_token

HEAVY = (
    "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) % 7 = 1 FORMAT TabSeparated"
)


def http(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def ingest_to_searchable(
    source_url: str, projections: str, caller: dict[str, str], samples: int
) -> list[float]:
    """Milliseconds from posting a callback to finding it with `q`, each."""
    took = []
    for _ in range(samples):
        token = f"smbench{uuid.uuid4().hex}"
        began = time.perf_counter()
        status, body = http(
            source_url + "/twilio/status", f"MessageSid={token}&MessageStatus=sent".encode()
        )
        if status != 200:
            raise RuntimeError(f"ingress answered {status}: {body!r}")
        while True:
            status, body = http(f"{projections}/v1/requests?q={token}&limit=1", headers=caller)
            if status == 200 and json.loads(body)["count"]:
                break
            if time.perf_counter() - began > 60:
                raise RuntimeError("a request was not searchable within 60 s")
            time.sleep(0.01)
        took.append((time.perf_counter() - began) * 1000)
    return sorted(took)


class Analysts:
    """`count` analysts each running the heavy query back to back until stopped."""

    def __init__(self, endpoint: str, user: str, password: str, count: int) -> None:
        self.url = endpoint + "/?" + urllib.parse.urlencode({"query": HEAVY})
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.stopping = threading.Event()
        self.finished = 0
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(count)]

    def _loop(self) -> None:
        while not self.stopping.is_set():
            status, body = http(self.url, headers=self.headers, timeout=300)
            if status not in (200, 500):  # 500: the time limit ended it, as meant
                raise RuntimeError(f"analyst query answered {status}: {body[:200]!r}")
            self.finished += 1

    def __enter__(self) -> Analysts:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    samples = 10 if quick else 40
    report = Report(
        "Analysts beside the live gateway",
        ["ingest → searchable", "samples", "p50", "p95", "notes"],
    )
    with ExitStack() as ctx:
        tmp, stack, source = source_stack(ctx, "fh-bench-anl-")
        password, analyst = new_analyst("bench", None)
        asyncio.run(_publish_analyst(stack, analyst))
        ports = {"projections": free_port(), "analysts": free_port()}
        env = {
            **stack.env,
            "FASTHOOK_PROJECTIONS_PORT": str(ports["projections"]),
            "FASTHOOK_ANALYSTS_PORT": str(ports["analysts"]),
            "FASTHOOK_ANALYSTS_MAX_EXECUTION_S": "20",
        }
        child = ctx.enter_context(
            Child("projections", python("-m", "projections"), tmp / "projections.log", env)
        )
        wait_for(child, ports["projections"], "GET", "/readyz", timeout_s=120)
        ctx.enter_context(stack.start("ingress"))
        source_url = f"http://127.0.0.1:{stack.ports['ingress']}/{source['token']}"
        projections = f"http://127.0.0.1:{ports['projections']}"
        caller = {
            TEAM_HEADER: source["team_id"],
            PROJECTIONS_TOKEN_HEADER: projections_token(stack.key),
        }
        _wait_source(source_url)
        endpoint = f"http://127.0.0.1:{ports['analysts']}"
        _wait_analyst(endpoint, password)

        ingest_to_searchable(source_url, projections, caller, 3)  # warm up
        idle = ingest_to_searchable(source_url, projections, caller, samples)
        with Analysts(endpoint, "bench", password, count=2) as analysts:
            time.sleep(1.0)  # both heavy queries under way
            loaded = ingest_to_searchable(source_url, projections, caller, samples)
        report.rows.append(
            [
                "idle",
                str(samples),
                f"{percentile(idle, 0.5):.0f} ms",
                f"{percentile(idle, 0.95):.0f} ms",
                "",
            ]
        )
        report.rows.append(
            [
                "while 2 analysts run heavy queries",
                str(samples),
                f"{percentile(loaded, 0.5):.0f} ms",
                f"{percentile(loaded, 0.95):.0f} ms",
                f"max_threads 1 each; {analysts.finished} heavy queries ended (20 s limit)",
            ]
        )
        ratio = percentile(loaded, 0.5) / percentile(idle, 0.5)
        report.aims.append((f"p50 while analysts run within 2x idle: {ratio:.2f}x", ratio <= 2.0))
    return report


async def _publish_analyst(stack: Stack, analyst: dict) -> None:
    producer = make_producer(stack.broker.bootstrap)
    await producer.start()
    try:
        await publish_entity(producer, stack.topics.config, "analyst", analyst)
    finally:
        await producer.stop()


def _wait_source(source_url: str) -> None:
    deadline = time.monotonic() + 60
    while http(source_url + "/twilio/status", b"MessageStatus=queued")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("ingress never knew the source")
        time.sleep(0.1)


def _wait_analyst(endpoint: str, password: str) -> None:
    token = base64.b64encode(f"bench:{password}".encode()).decode()
    deadline = time.monotonic() + 60
    while (
        http(endpoint + "/?query=SELECT%201", headers={"Authorization": f"Basic {token}"})[0] != 200
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("the analysts' endpoint never knew the analyst")
        time.sleep(0.1)
