"""The console: the events page's server time over many stored requests and events, and the
live tail at 200 events/s.

N accepted requests and one event each are put on their topics, and an attempt for every
tenth event (one in four of them failed), so the saved views and the last-attempt sort have
something to find (N = 200,000 in a full run; FASTHOOK_BENCH_CONSOLE_N=1000000 is the issue's
figure, but loading and projecting that many through the broker takes far longer than a run
should on a small shared machine: bench/event_pages.py times the list's queries over 1,000,000
events written straight into the engine). The projections service, the API and
the console then run as processes, as `fasthook run` starts them; a signed-in HTTP client
times `GET /events` (the page with its first 50 rows) on loopback. Then events are published
at 200/s for the run's duration while a client follows the page's live tail (SSE): how many
arrive and how late after they were published.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from api.admin import admin_session
from bench.load import percentile
from bench.pipeline import BODY, Stack, preload, request_record
from bench.procs import Child, python, wait_for
from bench.report import Report
from fasthook.embedded import free_port
from runtime.kafka import make_producer
from runtime.settings import Settings, load_settings
from schemas.codec import decode, encode
from schemas.ids import new_id

RATE = 200
# The pages timed: (label, path, whether its second page is timed instead). A status view
# finds its rows window by window (projections/event_pages.py); the last-attempt sort ranks
# events on two columns before aggregating them.
PAGES = (
    ("events page (first 50 rows, newest first)", "/events", False),
    ("saved view Pending (QUEUED: 90% of events)", "/events?status=QUEUED", False),
    ("saved view Failed (2.5% of events)", "/events?status=FAILED", False),
    ("saved view Successful (7.5%)", "/events?status=SUCCESSFUL", False),
    ("attempts ≥ 1 (10%)", "/events?attempts_min=1", False),
    ("sorted by last attempt", "/events?sort=last_attempt_at", False),
    ("Failed, sorted by last attempt", "/events?status=FAILED&sort=last_attempt_at", False),
    ("saved view Failed, its second page (Older →)", "/events?status=FAILED", True),
    # The first page timed right after projection meets ClickHouse merging the fresh parts.
    ("events page again, after the others", "/events", False),
)


def event_record(request: dict[str, Any], pipe: dict[str, Any], at: int) -> bytes:
    return encode(
        "EventCreated",
        {
            "event_id": new_id("evt", at),
            "request_id": request["request_id"],
            "team_id": request["team_id"],
            "source_id": request["source_id"],
            "connection_id": pipe["connection"]["id"],
            "destination_id": pipe["destination"]["id"],
            "created_at": at,
            "due_at": at,
            "attempt_number": 1,
            "trigger": "INITIAL",
            "source_url": request["public_url"],
            "request": {
                "method": "POST",
                "path": request["path"],
                "query": "",
                "headers": request["headers"],
                "body": BODY,
            },
            "bulk_id": None,
        },
    )


def attempt_record(event: dict[str, Any], failed: bool) -> bytes:
    at = event["created_at"] + 40
    return encode(
        "AttemptRecorded",
        {
            "attempt_id": new_id("atm", at),
            "event_id": event["event_id"],
            "request_id": event["request_id"],
            "team_id": event["team_id"],
            "source_id": event["source_id"],
            "connection_id": event["connection_id"],
            "destination_id": event["destination_id"],
            "attempt_number": 1,
            "trigger": "INITIAL",
            "status": "FAILED" if failed else "SUCCESSFUL",
            "requested_url": "http://127.0.0.1:9/none",
            "http_method": "POST",
            "request_headers": [],
            "response_status": 500 if failed else 204,
            "response_headers": [],
            "response_body": b"",
            "response_latency_ms": 12,
            "error_code": None,
            "event_status": "FAILED" if failed else "SUCCESSFUL",
            "next_attempt_at": None,
            "created_at": at,
        },
    )


def pairs(pipe: dict[str, Any], start: int, end: int) -> tuple[list, list, list]:
    requests, events, attempts = [], [], []
    for i in range(start, end):
        raw = request_record(pipe["source"], i)
        request = decode(raw)
        requests.append((request["request_id"].encode(), raw))
        event = event_record(request, pipe, request["received_at"])
        events.append((request["request_id"].encode(), event))
        if i % 10 == 0:
            decoded = decode(event)
            attempts.append(
                (decoded["event_id"].encode(), attempt_record(decoded, failed=i % 40 == 0))
            )
    return requests, events, attempts


async def timed_pages(
    console: str, key: str, paths: list[str], second: bool = False
) -> list[float]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{console}/signin", data={"key": key}) as answer:
            assert answer.status == 200, await answer.text()
        if second:  # the page its Older link leads to
            async with http.get(console + paths[0]) as answer:
                found = re.search(r'href="([^"]+)" rel="next"', await answer.text())
            if found is None:
                raise RuntimeError(f"{paths[0]} has no second page")
            paths = [paths[0].split("?")[0] + html.unescape(found.group(1))] * len(paths)
        took = []
        for path in paths:
            started = time.perf_counter()
            async with http.get(console + path) as answer:
                body = await answer.text()
                if answer.status != 200 or 'id="row-evt_' not in body:
                    raise RuntimeError(f"{path}: {answer.status} {body[:300]}")
            took.append((time.perf_counter() - started) * 1000)
        return sorted(took)


async def tail_at_rate(
    console: str, key: str, bootstrap: str, topic: str, pipe: dict[str, Any], seconds: float
) -> tuple[int, int, list[float], float, float]:
    """(published, received on the tail, lags in ms from publish to arrival sorted, p50 lag
    of the first and of the last third published: equal when the tail keeps up)."""
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    published = asyncio.Event()
    caught_up = asyncio.Event()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{console}/signin", data={"key": key}) as answer:
            assert answer.status == 200
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        async def follow() -> None:
            async with http.get(
                f"{console}/events/tail?since={since}", timeout=aiohttp.ClientTimeout(total=None)
            ) as stream:
                async for line in stream.content:
                    if line.startswith(b"id: "):
                        got.setdefault(line[4:].strip().decode(), time.monotonic())
                        if published.is_set() and sent.keys() <= got.keys():
                            caught_up.set()

        follower = asyncio.create_task(follow())
        producer = make_producer(bootstrap, linger_ms=5)
        await producer.start()
        try:
            began = time.monotonic()
            n = int(seconds * RATE)
            for i in range(n):
                await asyncio.sleep(max(0.0, began + i / RATE - time.monotonic()))
                raw = request_record(pipe["source"], i)
                request = decode(raw)
                record = event_record(request, pipe, int(time.time() * 1000))
                event_id = decode(record)["event_id"]
                await producer.send(topic, record, key=event_id.encode())
                sent[event_id] = time.monotonic()
            await producer.flush()
            published.set()
            if sent.keys() <= got.keys():
                caught_up.set()
            try:
                await asyncio.wait_for(caught_up.wait(), 30)
            except TimeoutError:
                pass  # reported as rows missing
        finally:
            await producer.stop()
            follower.cancel()
    in_order = [(got[e] - sent[e]) * 1000 for e in sent if e in got]  # publish order
    third = max(1, len(in_order) // 3)
    first, last = sorted(in_order[:third]), sorted(in_order[-third:])
    return (
        len(sent),
        len(in_order),
        sorted(in_order),
        percentile(first, 0.5),
        percentile(last, 0.5),
    )


async def projector_caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Whether the projector's group has committed every record on `topics`: the last request's
    event being queryable says nothing of the attempts and requests still being written, and
    pages timed meanwhile would share the cores with that writing."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        tps = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(reader.partitions_for_topic(topic) or [])
        ]
        ends = await reader.end_offsets(tps)
        for tp in tps:
            if ends[tp] and (await reader.committed(tp) or 0) < ends[tp]:
                return False
        return True
    finally:
        await reader.stop()


async def make_key(settings: Settings) -> str:
    async with admin_session(settings) as admin:
        team = await admin.create_team("bench")
        key, _ = await admin.create_key("bench", [team["id"]])
        return key


async def declare(api: str, key: str) -> dict[str, Any]:
    made: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        for kind, body in (
            ("source", {"name": "bench-source"}),
            (
                "destination",
                {"name": "bench-destination", "config": {"url": "http://127.0.0.1:9/none"}},
            ),
            ("connection", {"name": "bench-connection"}),
        ):
            if kind == "connection":
                body |= {
                    "source_id": made["source"]["id"],
                    "destination_id": made["destination"]["id"],
                }
            async with http.post(f"{api}/v1/{kind}s", json=body) as answer:
                assert answer.status == 201, await answer.text()
                made[kind] = await answer.json()
    return made


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    n = int(os.environ.get("FASTHOOK_BENCH_CONSOLE_N") or (20_000 if quick else 200_000))
    seconds = duration_s or (3.0 if quick else 10.0)
    report = Report(
        f"Console over {n:,} requests and {n:,} events",
        ["what", "count", "p50", "p95 / p99", "notes"],
    )
    with ExitStack() as ctx:
        tmp = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-console-")))
        stack = Stack(tmp)
        ctx.callback(stack.stop)
        ports = {name: free_port() for name in ("projections", "api", "console")}
        env = {
            **stack.env,
            "FASTHOOK_PROJECTIONS_PORT": str(ports["projections"]),
            "FASTHOOK_API_PORT": str(ports["api"]),
            "FASTHOOK_CONSOLE_PORT": str(ports["console"]),
            "FASTHOOK_PROJECTOR_BATCH_RECORDS": "20000",
        }
        settings = load_settings(env)
        key = asyncio.run(make_key(settings))
        # The entities through the API, as a user makes them (the console lists them).
        child = ctx.enter_context(Child("api", python("-m", "api"), tmp / "api.log", env))
        wait_for(child, ports["api"], "GET", "/readyz", timeout_s=120)
        api = f"http://127.0.0.1:{ports['api']}"
        pipe = asyncio.run(declare(api, key))
        last_request = ""
        for start in range(0, n, 25_000):
            requests, events, attempts = pairs(pipe, start, min(n, start + 25_000))
            asyncio.run(preload(stack.broker.bootstrap, stack.topics.requests, requests))
            asyncio.run(preload(stack.broker.bootstrap, stack.topics.events, events))
            asyncio.run(preload(stack.broker.bootstrap, stack.topics.attempts, attempts))
            last_request = requests[-1][0].decode()
        began = time.monotonic()
        for name in ("projections", "console"):
            child = ctx.enter_context(Child(name, python("-m", name), tmp / f"{name}.log", env))
            wait_for(child, ports[name], "GET", "/readyz", timeout_s=120)
        console = f"http://127.0.0.1:{ports['console']}"

        async def projected() -> None:
            auth = {"Authorization": f"Bearer {key}"}
            async with aiohttp.ClientSession(headers=auth) as http:
                while True:
                    async with http.get(f"{api}/v1/events?request_id={last_request}") as r:
                        if r.status == 200 and (await r.json())["count"]:
                            return
                    if time.monotonic() - began > 1800:
                        raise RuntimeError("projection did not finish in 30 minutes")
                    await asyncio.sleep(0.5)

        asyncio.run(projected())
        topics = [stack.topics.requests, stack.topics.events, stack.topics.attempts]
        group = settings.projector_group or f"{settings.topic_namespace}-projector"
        while not asyncio.run(projector_caught_up(stack.broker.bootstrap, group, topics)):
            if time.monotonic() - began > 1800:
                raise RuntimeError("projection did not finish in 30 minutes")
            time.sleep(0.5)
        report.notes.append(
            f"projected in {time.monotonic() - began:.0f} s "
            "(engine start included, every record committed)"
        )
        for label, path, second in PAGES:
            took = asyncio.run(timed_pages(console, key, [path] * 20, second))
            report.rows.append(
                [
                    label,
                    "20 loads",
                    f"{percentile(took, 0.5):.0f} ms",
                    f"{percentile(took, 0.95):.0f} ms",
                    "signed in, loopback",
                ]
            )
            if label == PAGES[0][0]:
                report.aims.append(
                    (
                        f"events page under 500 ms (p50) over {n:,} stored: "
                        f"{percentile(took, 0.5):.0f} ms",
                        percentile(took, 0.5) < 500,
                    )
                )
        published, received, lags, early, late = asyncio.run(
            tail_at_rate(console, key, stack.broker.bootstrap, stack.topics.events, pipe, seconds)
        )
        if lags:
            report.rows.append(
                [
                    f"live tail at {RATE} events/s",
                    f"{received:,}/{published:,}",
                    f"{percentile(lags, 0.5):.0f} ms",
                    f"{percentile(lags, 0.99):.0f} ms",
                    "publish → projected → polled → row on the SSE stream; "
                    f"p50 first third {early:.0f} ms, last third {late:.0f} ms",
                ]
            )
        # Keeping up: every row arrives, and the lag does not grow while the load lasts.
        report.aims.append(
            (
                f"live tail kept up with {RATE} events/s: {received:,} of "
                f"{published:,} rows, lag p50 {early:.0f} → {late:.0f} ms",
                received == published and late <= 2 * early + 1000,
            )
        )
        if n < 1_000_000:
            report.notes.append(
                "scaled down from 1,000,000 stored requests: loading and "
                "projecting that many takes too long on this machine "
                "(set FASTHOOK_BENCH_CONSOLE_N=1000000 to run it)"
            )
    return report
