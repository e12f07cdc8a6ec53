"""Router and deliverer throughput, and end-to-end latency (source 200 → receiver).

- routing: N accepted requests already on the requests topic; a router worker starts and
  routes them through filter-only connections, then through a transformation; requests/s.
- delivery: N events already on the events topic; a deliverer starts and delivers them to a
  fast receiver on loopback; deliveries/s.
- end to end: ingress + router + deliverer + projections running; Twilio-like POSTs at a steady
  rate; the time from the source's 200 to the receiver getting the request (p50/p99), per rate,
  with each process's CPU and broker requests (by kind) per accepted request and its peak RSS.
  `FASTHOOK_BENCH_E2E_RATES=500,1000 python -m bench --only pipeline` runs these rows alone, at
  those rates.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from api.config_log import publish_entity
from api.entities import new_entity, new_team
from bench.cpu import group_cpu_seconds, group_peak_rss_bytes, snapshot
from bench.load import percentile
from bench.procs import Child, python, wait_for
from bench.receiver import LeanReceiver
from bench.report import Report
from bench.stages import stage_rows, stage_times
from fasthook.embedded import EmbeddedBroker, free_port
from runtime import wire
from runtime.kafka import ensure_topics, make_producer
from runtime.secrets import SecretBox, generate_key
from runtime.settings import Settings, settings_environment
from schemas.codec import encode
from schemas.ids import new_id
from schemas.topics import RETRY_TIERS_MS, Topics

BODY = (
    b"MessageSid=SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&MessageStatus=failed&SmsStatus=failed"
    b"&To=%2B18005551212&From=%2B18005550199&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    b"&ErrorCode=30003"
)
TRANSFORM = (
    "addHandler('transform', (request, context) => {"
    " request.headers['x-status'] = request.body.MessageStatus; return request; });"
)


class Stack:
    """A broker, topics of one namespace, and the env every service process gets."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.broker = EmbeddedBroker(tmp / "broker")
        self.broker.start()
        self.topics = Topics("bench")
        self.key = generate_key()
        self.wire = tmp / "wire"
        self.box = SecretBox(self.key)
        self.ports = {
            name: free_port() for name in ("ingress", "router", "deliverer", "projections")
        }
        self.settings = Settings(
            kafka_bootstrap=self.broker.bootstrap,
            secret_key=self.key,
            log_level="WARNING",
            ingress_port=self.ports["ingress"],
            ingress_metrics_port=free_port(),
            router_port=self.ports["router"],
            deliverer_port=self.ports["deliverer"],
            projections_port=self.ports["projections"],
            allowed_destinations="127.0.0.1/32",
            data_dir=str(tmp),
            analysts_port=free_port(),
            # FASTHOOK_EVENT_LOOP=asyncio python -m bench: the same figures on the standard loop.
            event_loop=os.environ.get("FASTHOOK_EVENT_LOOP", "uvloop"),
        )
        # The same figures with other batching settings, side by side (bench.sides or by hand).
        for name in ("fetch_gather_ms", "produce_linger_ms"):
            chosen = os.environ.get(f"FASTHOOK_{name.upper()}")
            if chosen:
                self.settings = self.settings.with_(**{name: float(chosen)})
        self.use_namespace("bench")

    def use_namespace(self, namespace: str) -> None:
        """Fresh topics, so one measurement never works through another's records."""
        self.topics = Topics(namespace)
        asyncio.run(ensure_topics(self.broker.bootstrap, self.topics))
        self.settings = self.settings.with_(topic_namespace=namespace)
        # Every service counts its broker requests by kind (runtime.wire) into one directory.
        self.env = settings_environment(self.settings) | {wire.ENV: str(self.wire)}

    def start(self, name: str) -> Child:
        child = Child(name, python("-m", name), self.tmp / f"{name}.log", self.env)
        path = "/readyz"
        wait_for(child, self.ports[name], "GET", path, timeout_s=90)
        return child

    async def declare(self, receiver_url: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        producer = make_producer(self.broker.bootstrap)
        await producer.start()
        try:
            team = new_team("bench", self.box)
            source = new_entity(
                "source", team["id"], {"name": f"s{new_id('src')}", "config": {}}, self.box
            )
            destination = new_entity(
                "destination",
                team["id"],
                {
                    "name": "d",
                    "config": {
                        "url": receiver_url,
                        "timeout_ms": 10_000,
                        "auth_type": "FASTHOOK_SIGNATURE",
                    },
                },
                self.box,
            )
            connection = new_entity(
                "connection",
                team["id"],
                {
                    "name": "c",
                    "source_id": source["id"],
                    "destination_id": destination["id"],
                    "rules": rules,
                },
                self.box,
            )
            for kind, entity in (
                ("team", team),
                ("source", source),
                ("destination", destination),
                ("connection", connection),
            ):
                await publish_entity(producer, self.topics.config, kind, entity)
            return {"source": source, "destination": destination, "connection": connection}
        finally:
            await producer.stop()

    def stop(self) -> None:
        self.broker.stop()


def source_stack(ctx: ExitStack, prefix: str) -> tuple[Path, Stack, dict[str, Any]]:
    """A temp dir, a Stack in it (both gone when `ctx` closes) and a declared source."""
    tmp = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    stack = Stack(tmp)
    ctx.callback(stack.stop)
    pipe = asyncio.run(stack.declare("http://127.0.0.1:9/none", []))
    return tmp, stack, pipe["source"]


async def topic_count(bootstrap: str, topics: list[str]) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def wait_count(bootstrap: str, topics: list[str], target: int, timeout_s: float) -> float:
    """Seconds until the topics hold `target` records (polled every 50 ms)."""
    started = time.monotonic()
    while await topic_count(bootstrap, topics) < target:
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"{topics}: fewer than {target} records after {timeout_s}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def request_record(source: dict[str, Any], i: int) -> bytes:
    return encode(
        "RequestReceived",
        {
            "request_id": new_id("req"),
            "team_id": source["team_id"],
            "source_id": source["id"],
            "received_at": int(time.time() * 1000),
            "method": "POST",
            "path": "/twilio/status",
            "query": "",
            "public_url": "http://127.0.0.1/x/twilio/status",
            "headers": [
                {"name": "Content-Type", "value": "application/x-www-form-urlencoded", "raw": None},
                {"name": "X-Twilio-Signature", "value": f"s{i}", "raw": None},
            ],
            "body": BODY,
            "body_size": len(BODY),
            "client_ip": "127.0.0.1",
            "verification": {"method": "NONE", "verified": True, "detail": None},
            "status": "accepted",
            "rejection_cause": None,
            "replay_of": None,
            "connection_ids": None,
        },
    )


async def preload(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> None:
    producer = make_producer(bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Receiver:
    """A fast receiver: answers 204 and notes when each request id arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[str, float] = {}
        # The same arrivals in wall-clock ms, for the stage breakdown (bench.stages).
        self.arrived_ms: dict[str, float] = {}
        self.runner: web.AppRunner | None = None
        self._arrival = asyncio.Event()

    async def wait_all(self, ids: set[str], timeout_s: float) -> None:
        """Until every id arrived, or the timeout passed (what is missing is then reported)."""
        deadline = time.monotonic() + timeout_s
        while ids - set(self.arrived) and time.monotonic() < deadline:
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), deadline - time.monotonic())
            except TimeoutError:
                return

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        request_id = request.headers.get("x-fasthook-request-id", "")
        self.arrived.setdefault(request_id, time.monotonic())
        self.arrived_ms.setdefault(request_id, time.time() * 1000)
        self._arrival.set()
        return web.Response(status=204)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"http://127.0.0.1:{self.port}/hook"


def cpu_per_record(cpu_s: float, n: int, what: str) -> str:
    """The worker's own CPU per record: unlike a rate, it holds on a machine others load."""
    return f"{cpu_s / n * 1000:.2f} ms CPU per {what} (worker process)"


def routing(stack: Stack, n: int) -> list[list[str]]:
    rows = []
    for index, (label, rules) in enumerate(
        (
            (
                "filter only",
                [
                    {
                        "type": "filter",
                        "headers": {"x-twilio-signature": {"$exists": True}},
                        "body": {"MessageStatus": {"$in": ["failed", "undelivered"]}},
                    }
                ],
            ),
            ("transformation", [{"type": "transformation", "code": TRANSFORM}]),
        )
    ):
        stack.use_namespace(f"bench-routing-{index}")
        pipe = asyncio.run(stack.declare("http://127.0.0.1:9/none", rules))
        before = asyncio.run(
            topic_count(stack.broker.bootstrap, [stack.topics.events, stack.topics.ignored])
        )
        values = [(f"k{i}".encode(), request_record(pipe["source"], i)) for i in range(n)]
        asyncio.run(preload(stack.broker.bootstrap, stack.topics.requests, values))
        with stack.start("router") as router:
            cpu = group_cpu_seconds(router.pgid)
            seconds = asyncio.run(
                wait_count(
                    stack.broker.bootstrap,
                    [stack.topics.events, stack.topics.ignored],
                    before + n,
                    600,
                )
            )
            cpu = group_cpu_seconds(router.pgid) - cpu
        rows.append(
            [
                f"routing, {label}",
                f"{n}",
                f"{n / seconds:,.0f} requests/s",
                "",
                cpu_per_record(cpu, n, "request"),
            ]
        )
    return rows


def event_record(
    team_id: str,
    connection: dict[str, Any],
    now: int,
    event_id: str,
    request_id: str,
    path: str = "/",
) -> bytes:
    """An event of `connection`, due `now`, as the router writes it: a Twilio-like form POST."""
    return encode(
        "EventCreated",
        {
            "event_id": event_id,
            "request_id": request_id,
            "team_id": team_id,
            "source_id": connection["source_id"],
            "connection_id": connection["id"],
            "destination_id": connection["destination_id"],
            "created_at": now,
            "due_at": now,
            "attempt_number": 1,
            "trigger": "INITIAL",
            "source_url": f"http://127.0.0.1/x{path.rstrip('/')}",
            "request": {
                "method": "POST",
                "path": path,
                "query": "",
                "body": BODY,
                "headers": [
                    {
                        "name": "Content-Type",
                        "value": "application/x-www-form-urlencoded",
                        "raw": None,
                    }
                ],
            },
            "bulk_id": None,
        },
    )


async def _delivery(stack: Stack, n: int) -> list[str]:
    # A destination that costs what a fast one needs: it shares the cores with the deliverer.
    receiver = LeanReceiver()
    url = await receiver.start()
    pipe = await stack.declare(url, [])
    now = int(time.time() * 1000)
    events = []
    request_ids = {new_id("req") for _ in range(n)}
    for request_id in request_ids:
        event_id = new_id("evt")
        record = event_record(
            pipe["source"]["team_id"], pipe["connection"], now, event_id, request_id
        )
        events.append((event_id.encode(), record))
    await preload(stack.broker.bootstrap, stack.topics.events, events)
    child = await asyncio.to_thread(stack.start, "deliverer")
    try:
        started, cpu = time.monotonic(), group_cpu_seconds(child.pgid)
        await receiver.wait_all(request_ids, 600)
        seconds = time.monotonic() - started
        cpu = group_cpu_seconds(child.pgid) - cpu
        if request_ids - set(receiver.arrived):
            raise RuntimeError("deliveries did not finish within 600 s")
    finally:
        child.stop()
        await receiver.stop()
    # Events parked on a retry tier (their destination's line too long to wait in): each costs
    # three more trips through the broker, and comes back later than waiting would have.
    parked = await topic_count(
        stack.broker.bootstrap, [stack.topics.retry(tier) for tier in RETRY_TIERS_MS]
    )
    return [
        "delivery to a fast receiver",
        f"{n}",
        f"{n / seconds:,.0f} deliveries/s",
        "",
        f"{cpu_per_record(cpu, n, 'delivery')}; {parked} parked on a retry tier",
    ]


def cpu_per_request(before: dict[str, float], after: dict[str, float], accepted: int) -> str:
    """The pipeline's CPU per accepted request, whole and by process (ms): what sizes hardware,
    and, unlike latency, it holds on a machine that other work loads."""
    used = {name: after[name] - before[name] for name in before if name != "machine"}
    each = ", ".join(f"{name} {seconds / accepted * 1000:.2f}" for name, seconds in used.items())
    total = sum(used.values()) / accepted * 1000
    return f"{total:.2f} ms CPU per request ({each})"


async def _end_to_end(
    stack: Stack, rates: list[int], duration_s: float, groups: dict[str, int]
) -> list[list[str]]:
    receiver = Receiver()
    url = await receiver.start()
    services = {name: pgid for name, pgid in groups.items() if name != "broker"}
    pipe = await stack.declare(url, [{"type": "filter", "path": "/twilio/status"}])
    source_url = f"http://127.0.0.1:{stack.ports['ingress']}/{pipe['source']['token']}"
    rows = []
    connector = aiohttp.TCPConnector(limit=0)
    failed: list[str] = []
    async with aiohttp.ClientSession(connector=connector) as http:
        ok_ms: dict[str, float] = {}

        async def one(sent_at: dict[str, float]) -> None:
            try:
                async with http.post(
                    source_url + "/twilio/status",
                    data=BODY,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ) as response:
                    await response.read()
                    if response.status == 200:
                        request_id = response.headers["x-fasthook-request-id"]
                        sent_at[request_id] = time.monotonic()
                        ok_ms[request_id] = time.time() * 1000
                    else:
                        failed.append(str(response.status))
            except aiohttp.ClientError as exc:
                # Not accepted, so not a webhook to wait for: counted, and the run goes on.
                failed.append(type(exc).__name__)

        # Warm-up: the connection must be in every service's view before measuring.
        while not receiver.arrived:
            await one({})
            await asyncio.sleep(0.2)
        for rate in rates:
            sent_at: dict[str, float] = {}
            ok_ms.clear()
            failed.clear()
            count = int(rate * duration_s)
            cpu_before = snapshot(groups)
            wire_before = wire.read_counts(stack.wire, services)
            began = time.monotonic()
            tasks = []
            for i in range(count):
                delay = began + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(sent_at)))
            await asyncio.gather(*tasks)
            achieved = count / (time.monotonic() - began)
            await receiver.wait_all(set(sent_at), 60)
            accepted = max(1, len(sent_at))
            cpu = cpu_per_request(cpu_before, snapshot(groups), accepted)
            trips = wire.per_accepted(wire_before, wire.read_counts(stack.wire, services), accepted)
            rss = {name: group_peak_rss_bytes(pgid) / 2**20 for name, pgid in groups.items()}
            lags = sorted(
                max(0.0, receiver.arrived[r] - t) * 1000
                for r, t in sent_at.items()
                if r in receiver.arrived
            )
            lost = len(set(sent_at) - set(receiver.arrived))
            rows.append(
                [
                    f"end to end at {rate}/s (sent {achieved:,.0f}/s), own fresh broker",
                    f"{len(sent_at)}",
                    f"p50 {percentile(lags, 0.50):.0f} ms",
                    f"p99 {percentile(lags, 0.99):.0f} ms",
                    (f"{lost} not delivered within 60 s; " if lost else "")
                    + (
                        f"{len(failed)} not accepted ({', '.join(sorted(set(failed)))}); "
                        if failed
                        else ""
                    )
                    + cpu,
                ]
            )
            times = await stage_times(
                stack.broker.bootstrap,
                stack.topics,
                {r: ok_ms[r] for r in sent_at if r in ok_ms},
                receiver.arrived_ms,
            )
            rows += stage_rows(times, rate)
            rows.append(
                [f"  broker requests per request at {rate}/s", "", "", "", wire.render(trips)]
            )
            rows.append(
                [
                    f"  peak RSS at {rate}/s",
                    "",
                    "",
                    "",
                    ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()),
                ]
            )
    assert receiver.runner is not None
    await receiver.runner.cleanup()
    return rows


def routing_run(quick: bool = False) -> Report:
    """The routing rows alone (one router worker routing a backlog): `bench.sides routing`."""
    report = Report("Routing a backlog, one worker", ["what", "count", "throughput", "", "notes"])
    with ExitStack() as stack_ctx:
        tmp = Path(stack_ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-")))
        stack = Stack(tmp)
        stack_ctx.callback(stack.stop)
        report.rows += routing(stack, 2_000 if quick else 20_000)
    return report


def backlog_aims(rows: list[list[str]]) -> list[tuple[str, bool]]:
    """The routing and delivery rows against issue 11's aims (one worker each)."""
    aims = []
    for label, aim in (("filter only", 4000), ("transformation", 1500)):
        rate = next(
            float(r[2].split()[0].replace(",", "")) for r in rows if r[0] == f"routing, {label}"
        )
        aims.append((f"routing, {label}, one worker: {rate:,.0f}/s (aim ≥ {aim:,}/s)", rate >= aim))
    delivered = next(r for r in rows if r[0] == "delivery to a fast receiver")
    rate = float(delivered[2].split()[0].replace(",", ""))
    aims.append(
        (
            f"deliveries to a fast local receiver, one worker: {rate:,.0f}/s (aim ≥ 4,000/s)",
            rate >= 4000,
        )
    )
    return aims


def delivery_run(quick: bool = False) -> Report:
    """The delivery row alone (one deliverer working through a backlog to a fast receiver):
    `bench.sides delivery`."""
    report = Report(
        "Delivering a backlog, one worker", ["what", "count", "throughput", "", "notes"]
    )
    with ExitStack() as stack_ctx:
        tmp = Path(stack_ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-")))
        stack = Stack(tmp)
        stack_ctx.callback(stack.stop)
        stack.use_namespace("bench-delivery")
        report.rows.append(asyncio.run(_delivery(stack, 2_000 if quick else 20_000)))
    return report


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    n = 2_000 if quick else 20_000
    duration = duration_s or (3.0 if quick else 10.0)
    rates = [200, 500] if quick else [200, 500, 1000]
    chosen = os.environ.get("FASTHOOK_BENCH_E2E_RATES")
    if chosen:
        rates = [int(rate) for rate in chosen.split(",")]
    report = Report(
        "Routing, delivery and end-to-end latency",
        ["what", "count", "throughput / p50", "p99", "notes"],
    )
    if not chosen:
        with ExitStack() as stack_ctx:
            tmp = Path(stack_ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-")))
            stack = Stack(tmp)
            stack_ctx.callback(stack.stop)
            report.rows += routing(stack, n)
            stack.use_namespace("bench-delivery")
            report.rows.append(asyncio.run(_delivery(stack, n)))
    # The end-to-end rows on a broker of their own: the embedded broker's CPU per request grows
    # with the records stored on it (docs/benchmarks.md, "pipeline"), and the 60,000 the rows
    # above leave would cost these rows several times the broker CPU of a fresh one.
    with ExitStack() as stack_ctx:
        tmp = Path(stack_ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-")))
        stack = Stack(tmp)
        stack_ctx.callback(stack.stop)
        stack.use_namespace("bench-e2e")
        # The whole pipeline, the projector included (it reads every topic).
        groups = {
            name: stack_ctx.enter_context(stack.start(name)).pgid
            for name in ("ingress", "router", "deliverer", "projections")
        }
        assert stack.broker.process is not None
        groups["broker"] = stack.broker.process.pid
        e2e = asyncio.run(_end_to_end(stack, rates, duration, groups))
        report.rows += e2e
    if not chosen:
        report.aims += backlog_aims(report.rows)
    top = next(r for r in reversed(e2e) if r[0].startswith("end to end"))
    p99 = float(top[3].split()[1])
    report.aims.append(
        (
            f"end-to-end p99 under 100 ms at {rates[-1]}/s: {p99:.0f} ms",
            p99 < 100 and "not delivered" not in top[4],
        )
    )
    per_request = float(top[4].rpartition("; ")[2].split()[0])
    report.aims.append(
        (
            f"CPU per accepted request across the pipeline at {rates[-1]}/s: "
            f"{per_request:.2f} ms (aim ≤ 0.8 ms)",
            per_request <= 0.8,
        )
    )
    report.notes.append(
        "2 cores: the load generator, receiver, broker and five services share "
        "them; figures are for this machine, one worker per service; load "
        f"average at the end {os.getloadavg()[0]:.1f}."
    )
    report.notes.append(json.dumps({"routing_requests": n, "e2e_seconds_per_rate": duration}))
    return report
