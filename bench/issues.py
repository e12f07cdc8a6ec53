"""The issues job: detection latency (a first failing attempt on the attempts topic → its
IssueOpened on the issues topic) and throughput over a backlog of attempts (aim: 5,000/s on
one worker).

The job runs as its own process (`python -m issues`) against the embedded broker, with a
delivery trigger on every connection of the team (first_attempt: each failure counts).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from api.config_log import publish_entity
from api.entities import new_entity
from bench.load import percentile
from bench.pipeline import Stack, preload
from bench.procs import Child, python, wait_for
from bench.report import Report
from fasthook.embedded import free_port
from runtime.kafka import make_producer
from schemas.codec import decode_named_record, encode
from schemas.ids import new_id

AIM_PER_S = 5_000
CONNECTIONS = 50


def attempt(team_id: str, connection_id: str, ok: bool, at: int) -> dict[str, Any]:
    return {
        "attempt_id": new_id("atm", at),
        "event_id": new_id("evt", at),
        "request_id": new_id("req", at),
        "team_id": team_id,
        "source_id": "src_bench",
        "connection_id": connection_id,
        "destination_id": "des_bench",
        "attempt_number": 1,
        "trigger": "INITIAL",
        "status": "SUCCESSFUL" if ok else "FAILED",
        "requested_url": "http://127.0.0.1:9/hook",
        "http_method": "POST",
        "request_headers": [],
        "response_status": 200 if ok else 500,
        "response_headers": [],
        "response_body": b"",
        "response_latency_ms": 3,
        "error_code": None,
        "event_status": "SUCCESSFUL" if ok else "FAILED",
        "next_attempt_at": None,
        "created_at": at,
    }


def records_read(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = re.search(r"^fasthook_issues_records_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def declare(stack: Stack) -> str:
    """A team with the default-like trigger on every connection; its id."""
    pipe = await stack.declare("http://127.0.0.1:9/none", [])
    team_id = pipe["source"]["team_id"]
    trigger = new_entity(
        "issue_trigger",
        team_id,
        {
            "name": "bench",
            "type": "delivery",
            "action": "notify",
            "channels": {},
            "configs": {"connections": "*", "strategy": "first_attempt"},
        },
        stack.box,
    )
    producer = make_producer(stack.broker.bootstrap)
    await producer.start()
    try:
        await publish_entity(producer, stack.topics.config, "issue_trigger", trigger)
    finally:
        await producer.stop()
    return team_id


async def detection(stack: Stack, team_id: str, rounds: int) -> list[float]:
    """Per round: a failing attempt on a connection never seen → seconds to its IssueOpened."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.broker.bootstrap, isolation_level="read_committed"
    )
    producer = make_producer(stack.broker.bootstrap)
    await consumer.start()
    await producer.start()
    took = []
    try:
        tps = [
            TopicPartition(stack.topics.issues, p)
            for p in consumer.partitions_for_topic(stack.topics.issues) or ()
        ]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for _ in range(rounds):
            connection_id = new_id("con")
            record = attempt(team_id, connection_id, False, int(time.time() * 1000))
            started = time.monotonic()
            await producer.send_and_wait(
                stack.topics.attempts,
                encode("AttemptRecorded", record),
                key=record["event_id"].encode(),
            )
            seen = False
            while not seen:
                for messages in (await consumer.getmany(timeout_ms=100)).values():
                    for message in messages:
                        name, issue = decode_named_record(message.value)
                        seen |= (
                            name == "IssueOpened"
                            and issue["issue"]["connection_id"] == connection_id
                        )
                if time.monotonic() - started > 30:
                    raise RuntimeError("no IssueOpened within 30 s")
            took.append(time.monotonic() - started)
    finally:
        await producer.stop()
        await consumer.stop()
    return took


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    n = 50_000 if quick else 300_000
    report = Report("Issues job", ["what", "count", "p50 / rate", "p95", "notes"])
    with ExitStack() as ctx:
        tmp = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="fh-bench-issues-")))
        stack = Stack(tmp)
        ctx.callback(stack.stop)
        team_id = asyncio.run(declare(stack))
        port = free_port()
        env = {**stack.env, "FASTHOOK_ISSUES_PORT": str(port)}
        child = ctx.enter_context(Child("issues", python("-m", "issues"), tmp / "issues.log", env))
        wait_for(child, port, "GET", "/readyz", timeout_s=90)

        took = sorted(asyncio.run(detection(stack, team_id, 10 if quick else 30)))
        report.rows.append(
            [
                "detection: failing attempt → IssueOpened",
                f"{len(took)}",
                f"{percentile(took, 0.5) * 1000:.0f} ms",
                f"{percentile(took, 0.95) * 1000:.0f} ms",
                "job idle before each",
            ]
        )

        # A backlog: the job stopped, N attempts written, the job started again.
        child.stop()
        now = int(time.time() * 1000)
        connections = [new_id("con") for _ in range(CONNECTIONS)]
        values = []
        for i in range(n):
            record = attempt(team_id, connections[i % CONNECTIONS], i % 10 == 0, now + i // 100)
            values.append((record["event_id"].encode(), encode("AttemptRecorded", record)))
        asyncio.run(preload(stack.broker.bootstrap, stack.topics.attempts, values))
        child = ctx.enter_context(Child("issues", python("-m", "issues"), tmp / "issues.log", env))
        wait_for(child, port, "GET", "/readyz", timeout_s=90)
        started = time.monotonic()
        while records_read(port) < n:
            child.check_alive()
            if time.monotonic() - started > 900:
                raise RuntimeError("the backlog was not read in 15 minutes")
            time.sleep(0.2)
        seconds = time.monotonic() - started
        rate = n / seconds
        report.rows.append(
            [
                "backlog of attempts (90% failing, 50 connections)",
                f"{n:,}",
                f"{rate:,.0f}/s",
                "",
                f"{seconds:.1f} s",
            ]
        )
        report.aims.append(
            (
                f"keeps up with {AIM_PER_S:,} attempts/s on one worker: {rate:,.0f}/s",
                rate >= AIM_PER_S,
            )
        )
    return report
