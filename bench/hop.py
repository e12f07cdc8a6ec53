"""One hop through the broker, as the router and the deliverer read it: a steady stream of
records produced at a rate, read by group consumers side by side in one process (the same
broker, the same moment, the same load), each with its own fetch gather.

Each record carries its send time; a consumer notes when `getmany` handed it over. Rows: the
hop's p50/p99 and the records a batch brought, per consumer:

- gather 20 ms (the default), records handed over when fetched;
- gather 20 ms, records held until the gather after their fetch ended (what aiokafka did
  alone before `RestingFetcher` woke the reader itself: the code before 2026-11-29 20:45);
- gather 0: every fetch follows the last at once.

`python -m bench --only hop`; `FASTHOOK_BENCH_HOP_RATES=300,1000`.
"""

from __future__ import annotations

import asyncio
import os
import struct
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bench.load import percentile
from bench.report import Report
from fasthook.embedded import EmbeddedBroker
from runtime.kafka import ensure_topics, make_group_consumer, make_producer
from runtime.settings import Settings
from schemas.topics import Topics

PAD = b"x" * 600  # about a routed request's size
# (label, gather ms, reader woken when its records are fetched)
READERS = (
    ("gather 20 ms, records read when fetched", 20.0, True),
    ("gather 20 ms, records held through the gather (before)", 20.0, False),
    ("gather 0", 0.0, True),
)


async def _read(
    consumer: AIOKafkaConsumer, lags: list[float], batches: list[int], target: int
) -> None:
    """Until `target` records were read."""
    while len(lags) < target:
        got = await consumer.getmany(timeout_ms=500)
        now = time.monotonic()
        for records in got.values():
            batches.append(len(records))
            lags += [(now - struct.unpack("!d", r.value[:8])[0]) * 1000 for r in records]


async def _hop(bootstrap: str, topic: str, rate: int, duration_s: float) -> list[list[str]]:
    settings = Settings(kafka_bootstrap=bootstrap)
    readers = []
    for index, (label, gather_ms, woken) in enumerate(READERS):
        consumer = make_group_consumer(
            settings.with_(fetch_gather_ms=gather_ms), f"hop-{rate}-{index}"
        )
        await consumer.start()
        consumer.subscribe([topic])
        await consumer.getmany(timeout_ms=3000)  # joined and assigned
        await consumer.seek_to_end()
        if not woken:
            consumer._fetcher._wake_readers = lambda: None
        lags: list[float] = []
        batches: list[int] = []
        readers.append((label, consumer, lags, batches))
    count = int(rate * duration_s)
    tasks = [asyncio.create_task(_read(c, lags, batches, count)) for _, c, lags, batches in readers]
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        began = time.monotonic()
        for i in range(count):
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            value = struct.pack("!d", time.monotonic()) + PAD
            await producer.send(topic, value, key=str(i).encode())
        await producer.flush()
        await asyncio.wait(tasks, timeout=30)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        for _, consumer, _, _ in readers:
            await consumer.stop()
    rows = []
    for label, _, lags, batches in readers:
        lags.sort()
        rows.append(
            [
                f"{label}, {rate}/s",
                f"{len(lags)}",
                f"p50 {percentile(lags, 0.5):.1f} ms",
                f"p99 {percentile(lags, 0.99):.1f} ms",
                f"{len(lags) / max(1, len(batches)):.1f} records a partition batch",
            ]
        )
    return rows


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    duration = duration_s or (3.0 if quick else 10.0)
    rates = [int(r) for r in os.environ.get("FASTHOOK_BENCH_HOP_RATES", "300,1000").split(",")]
    report = Report(
        "One hop through the broker: produce → a group consumer has it",
        ["what", "records", "p50", "p99", "notes"],
    )
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="fh-hop-") as tmp:
        broker = EmbeddedBroker(Path(tmp) / "broker")
        broker.start()
        try:
            topic = Topics("hop").requests
            asyncio.run(ensure_topics(broker.bootstrap, Topics("hop")))
            for rate in rates:
                report.rows += asyncio.run(_hop(broker.bootstrap, topic, rate, duration))
        finally:
            broker.stop()
    report.notes.append(
        f"All readers in one process beside the producer; load average {load:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end."
    )
    return report
