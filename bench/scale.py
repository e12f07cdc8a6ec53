"""Throughput against worker count (`fasthook run --workers N`), with the CPU each request took:
what the capacity model of docs/benchmarks.md is read from.

- ingest: the ingress in N processes on one port (SO_REUSEPORT) beside a bare aiohttp server in
  as many, closed loop, new connection per request and keep-alive (bench.ingest's load);
- routing: a backlog of requests routed by N router workers (filter-only connection);
- delivery: a backlog of events delivered by N deliverer workers to a fast local receiver.

Workers of a group start one after another and the group settles (every worker holding
partitions) before the backlog is written, as `fasthook run` starts them; the rate is read
between 10% and 90% of the outputs, so neither the start nor the tail counts. On a 2-core
machine shared with the broker and the load generator a second worker adds little: the CPU
per request is the figure that carries over to bigger machines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from bench.cpu import group_cpu_seconds
from bench.ingest import COLUMNS as INGEST_COLUMNS
from bench.ingest import Plan, bare_server, clean, ingress_stack, load_spec, row
from bench.load import run_load
from bench.pipeline import (
    Stack,
    event_record,
    preload,
    request_record,
    topic_count,
)
from bench.procs import Child, python, wait_for
from bench.receiver import LeanReceiver
from bench.report import Report
from fasthook.workers import workers
from runtime.settings import settings_environment
from schemas.ids import new_id

COUNTS = (1, 2)
FILTER = [
    {
        "type": "filter",
        "headers": {"x-twilio-signature": {"$exists": True}},
        "body": {"MessageStatus": {"$in": ["failed", "undelivered"]}},
    }
]
SPAN = (0.1, 0.9)  # the share of the outputs between which a backlog's rate is read


def start_workers(stack: Stack, service: str, count: int, ctx: ExitStack) -> list[Child]:
    """`count` workers of `service`, one after another (each ready before the next starts)."""
    settings = stack.settings.with_(**{f"{service}_workers": count})
    children = []
    for worker in workers(settings, service, "bench"):
        child = ctx.enter_context(
            Child(
                worker.name,
                python("-m", service),
                stack.tmp / f"{worker.name}.log",
                settings_environment(worker.settings),
            )
        )
        port = getattr(worker.settings, f"{service}_port")
        wait_for(child, port, "GET", "/readyz", timeout_s=90)
        children.append(child)
    return children


async def settled(bootstrap: str, group: str, members: int, timeout_s: float = 60) -> None:
    """Until the group has `members` members, each holding partitions."""
    deadline = time.monotonic() + timeout_s
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        while time.monotonic() < deadline:
            (described,) = await admin.describe_consumer_groups([group])
            found = described.to_object()["groups"][0]["members"]
            held = [
                ConsumerProtocolMemberAssignment.decode(m["member_assignment"]).partitions()
                for m in found
                if m["member_assignment"]
            ]
            if len(found) == members and len(held) == members and all(held):
                return
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    raise RuntimeError(f"{group}: {members} members holding partitions not seen in {timeout_s}s")


def spanned_rate(times: list[float]) -> float:
    """Outputs per second between SPAN's shares of them (times: when each was seen)."""
    times = sorted(times)
    first, last = (times[int(share * (len(times) - 1))] for share in SPAN)
    return (SPAN[1] - SPAN[0]) * len(times) / (last - first) if last > first else 0.0


async def count_over_time(bootstrap: str, topics: list[str], target: int) -> list[float]:
    """When each output appeared (as seen by polling every 50 ms), until `target` did."""
    seen: list[float] = []
    deadline = time.monotonic() + 600
    while len(seen) < target:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{topics}: {len(seen)} of {target} after 600 s")
        now, count = time.monotonic(), await topic_count(bootstrap, topics)
        seen += [now] * (min(count, target) - len(seen))
        await asyncio.sleep(0.05)
    return seen


def fresh_stack(tmp: Path, namespace: str, ctx: ExitStack) -> Stack:
    """A broker in `tmp` (stopped when `ctx` closes) and topics of their own."""
    tmp.mkdir()
    stack = Stack(tmp)
    ctx.callback(stack.stop)
    stack.use_namespace(namespace)
    return stack


def routing(tmp: Path, count: int, n: int) -> list[str]:
    with ExitStack() as ctx:
        stack = fresh_stack(tmp, f"scale-routing-{count}", ctx)
        pipe = asyncio.run(stack.declare("http://127.0.0.1:9/none", FILTER))
        routers = start_workers(stack, "router", count, ctx)
        asyncio.run(settled(stack.broker.bootstrap, f"{stack.topics.namespace}-router", count))
        cpu = sum(group_cpu_seconds(r.pgid) for r in routers)
        values = [(f"k{i}".encode(), request_record(pipe["source"], i)) for i in range(n)]
        outputs = [stack.topics.events, stack.topics.ignored]

        async def measure() -> list[float]:
            loading = asyncio.create_task(
                preload(stack.broker.bootstrap, stack.topics.requests, values)
            )
            seen = await count_over_time(stack.broker.bootstrap, outputs, n)
            await loading
            return seen

        seen = asyncio.run(measure())
        cpu = sum(group_cpu_seconds(r.pgid) for r in routers) - cpu
    return figures("routing, filter only", count, n, spanned_rate(seen), cpu, "request")


async def _delivery(stack: Stack, count: int, n: int, ctx: ExitStack) -> tuple[float, float]:
    receiver = LeanReceiver()
    url = await receiver.start()
    try:
        pipe = await stack.declare(url, [])
        deliverers = await asyncio.to_thread(start_workers, stack, "deliverer", count, ctx)
        await settled(stack.broker.bootstrap, f"{stack.topics.namespace}-deliverer", count)
        cpu = sum(group_cpu_seconds(d.pgid) for d in deliverers)
        now, team = int(time.time() * 1000), pipe["source"]["team_id"]
        events, ids = [], set()
        for _ in range(n):
            event_id, request_id = new_id("evt"), new_id("req")
            ids.add(request_id)
            record = event_record(team, pipe["connection"], now, event_id, request_id)
            events.append((event_id.encode(), record))
        await preload(stack.broker.bootstrap, stack.topics.events, events)
        await receiver.wait_all(ids, 600)
        if ids - set(receiver.arrived):
            raise RuntimeError("deliveries did not finish within 600 s")
        cpu = sum(group_cpu_seconds(d.pgid) for d in deliverers) - cpu
        return spanned_rate([receiver.arrived[i] for i in ids]), cpu
    finally:
        await receiver.stop()


def delivery(tmp: Path, count: int, n: int) -> list[str]:
    with ExitStack() as ctx:
        stack = fresh_stack(tmp, f"scale-delivery-{count}", ctx)
        rate, cpu = asyncio.run(_delivery(stack, count, n, ctx))
    return figures("delivery to a fast receiver", count, n, rate, cpu, "delivery")


def figures(what: str, count: int, n: int, rate: float, cpu_s: float, unit: str) -> list[str]:
    return [
        str(count),
        what,
        f"{n}",
        f"{rate:,.0f}/s",
        f"{cpu_s / n * 1000:.2f} ms",
        f"{rate * cpu_s / n:.2f}",
    ]


def ingest_rows(tmp: Path, plan: Plan, count: int) -> tuple[list[list[str]], list[str]]:
    tmp.mkdir()
    rows, notes = [], []
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with ingress_stack(tmp, count) as ingress:
        for mode, keepalive in (("new conn", False), ("keep-alive", True)):
            found["ingress", mode] = run_load(load_spec(ingress, keepalive, plan))
    with bare_server(tmp, ingress.path, count) as bare:
        for mode, keepalive in (("new conn", False), ("keep-alive", True)):
            found["bare", mode] = run_load(load_spec(bare, keepalive, plan))
    for mode in ("new conn", "keep-alive"):
        for server in ("bare", "ingress"):
            f = found[server, mode]
            rows.append([str(count), *row(server, mode, f"closed {plan.concurrency}", f)])
            if not clean(f):
                notes.append(f"{count} x {server} {mode}: {f['non_200']} {f['errors']}")
        ratio = found["ingress", mode]["rps"] / max(1.0, found["bare", mode]["rps"])
        notes.append(f"{count} process(es), {mode}: ingress/bare throughput {ratio:.0%}")
    return rows, notes


def run(
    quick: bool = False,
    duration_s: float | None = None,
    concurrency: int | None = None,
    counts: tuple[int, ...] = COUNTS,
) -> list[Report]:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    plan = Plan.make(quick, duration_s, concurrency)
    n = 4_000 if quick else 20_000
    ingest = Report(
        "Ingest against process count (one port, SO_REUSEPORT)",
        ["processes", *INGEST_COLUMNS],
    )
    stages = Report(
        "Routing and delivery against worker count (a backlog)",
        ["workers", "stage", "backlog", "throughput", "CPU per request", "cores used"],
    )
    with tempfile.TemporaryDirectory(prefix="fh-scale-") as tmp:
        for count in counts:
            rows, notes = ingest_rows(Path(tmp) / f"ingest-{count}", plan, count)
            ingest.rows += rows
            ingest.notes += notes
        for count in counts:
            for stage in (routing, delivery):
                stages.rows.append(stage(Path(tmp) / f"{stage.__name__}-{count}", count, n))
    load_average = os.getloadavg()[0]
    ingest.notes.append(
        f"closed loop, {plan.concurrency} clients for {plan.duration_s:g} s each; load average "
        f"at the end {load_average:.1f} on {os.cpu_count()} cores"
    )
    stages.notes.append(
        f"{os.cpu_count()} cores shared by the broker, the workers, the backlog's writer and the "
        f"receiver; load average at the end {load_average:.1f}. Rates read between "
        f"{SPAN[0]:.0%} and {SPAN[1]:.0%} of the outputs; CPU per request is all the workers' "
        "own over the whole backlog; cores used = throughput * CPU per request."
    )
    return [ingest, stages]
