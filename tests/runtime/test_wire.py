"""Broker requests counted by kind per process (runtime.wire): off unless asked for, and what a
real process sends to the embedded broker when on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from aiokafka import conn
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.produce import ProduceRequest

from runtime import wire

SEND_ONE = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from pathlib import Path
    from runtime.kafka import make_producer
    from runtime import wire

    async def main() -> None:
        producer = make_producer(sys.argv[1])
        await producer.start()
        await producer.send_and_wait(sys.argv[2], b"x")
        await producer.stop()
        total = wire.counts.total()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the dump thread wrote what was counted
            files = list(Path(sys.argv[3]).glob("*.json"))
            if files and sum(json.loads(files[0].read_text()).values()) == total:
                return
            await asyncio.sleep(0.1)

    asyncio.run(main())
    """
)


def test_a_request_is_named_by_its_kind_whatever_its_version() -> None:
    assert (
        wire.kind(
            FetchRequest(max_wait_time=0, min_bytes=0, max_bytes=0, isolation_level=0, topics=[])
        )
        == "Fetch"
    )
    assert (
        wire.kind(ProduceRequest(transactional_id=None, required_acks=1, timeout=1, topics=[]))
        == "Produce"
    )


def test_nothing_is_wrapped_unless_asked_for(tmp_path: Path) -> None:
    assert wire.install({}) is False
    assert not getattr(conn.AIOKafkaConnection.send, "counted", False)
    assert list(tmp_path.iterdir()) == []


def test_a_process_asked_to_count_writes_what_it_sent(bootstrap, topics, tmp_path: Path) -> None:
    directory = tmp_path / "wire"
    env = {**os.environ, wire.ENV: str(directory), "PYTHONPATH": os.getcwd()}
    subprocess.run(
        [sys.executable, "-c", SEND_ONE, bootstrap, topics.requests, str(directory)],
        env=env,
        check=True,
        timeout=60,
    )
    [dumped] = list(directory.glob("*.json"))
    counts = Counter(json.loads(dumped.read_text()))
    assert counts["Produce"] == 1
    assert counts["Metadata"] >= 1
    pgid = int(dumped.name.partition("-")[0])
    assert wire.read_counts(directory, {"sender": pgid}) == {"sender": counts}
    assert wire.read_counts(directory, {"nobody": -1}) == {"nobody": Counter()}


def test_requests_per_accepted_webhook_by_process_and_kind() -> None:
    before = {"router": Counter(Fetch=10, Produce=5)}
    after = {"router": Counter(Fetch=30, Produce=15, Heartbeat=1), "ingress": Counter(Produce=4)}
    rates = wire.per_accepted(before, after, 20)
    assert rates == {
        "router": {"Fetch": 1.0, "Produce": 0.5, "Heartbeat": 0.05},
        "ingress": {"Produce": 0.2},
    }
    assert list(rates["router"]) == ["Fetch", "Produce", "Heartbeat"]  # most first
    assert wire.render(rates) == (
        "router 1.55 (Fetch 1.00, Produce 0.50, Heartbeat 0.05); ingress 0.20 (Produce 0.20)"
    )
