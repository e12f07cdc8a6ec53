"""Where the end-to-end time goes: each webhook's path cut into stages from the times its records
carry, read back from the topics after a rate's window.

Every time is wall-clock milliseconds on this one machine (every process shares the clock):

- `received_at` of the RequestReceived record: the ingress read the request;
- the requests record's timestamp: the ingress handed it to its producer;
- `ok` (the bench's): the source got its 200 (after the broker acknowledged the record);
- the events record's timestamp: the router handed the event to its producer (the event's own
  `created_at` is the request's `received_at`, so that routing again yields the same record);
- the attempt's `created_at - response_latency_ms`: the deliverer began the HTTP request;
- `arrived` (the bench's): the receiver had it.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.load import percentile
from schemas.codec import decode

READ_TIMEOUT_S = 30.0
# (label, from, to): the stages of the path from the source's 200 to the receiver, and the
# ingress's own before it; each a difference of two of the times above.
STAGES = (
    ("ingress: read → record to producer", "received", "requested"),
    ("ingress: record to producer → source's 200", "requested", "ok"),
    ("router: source's 200 → event to producer (fetch wait, gather, routing)", "ok", "emitted"),
    (
        "deliverer: event to producer → request begun (router linger, fetch wait, gather)",
        "emitted",
        "begun",
    ),
    ("deliverer: request begun → receiver has it", "begun", "arrived"),
    ("end to end: source's 200 → receiver has it", "ok", "arrived"),
)


async def read_topic(bootstrap: str, topic: str) -> list[tuple[int, bytes]]:
    """(timestamp, value) of every record on `topic` now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + READ_TIMEOUT_S
        # Positions, not the last record's offset: control records (transactions) end some
        # partitions past their last record.
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                break  # what was read is reported; the rest is left out of the breakdown
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                out += [(r.timestamp, r.value) for r in records if r.value is not None]
        return out
    finally:
        await consumer.stop()


async def stage_times(
    bootstrap: str,
    topics: Any,
    ok_ms: dict[str, float],
    arrived_ms: dict[str, float],
) -> dict[str, dict[str, float]]:
    """Per request id (of those the source got a 200 for and the receiver got): its times."""
    times: dict[str, dict[str, float]] = {
        rid: {"ok": ok, "arrived": arrived_ms[rid]}
        for rid, ok in ok_ms.items()
        if rid in arrived_ms
    }
    for stamp, value in await read_topic(bootstrap, topics.requests):
        request = decode(value, "RequestReceived")
        entry = times.get(request["request_id"])
        if entry is not None:
            entry |= {"received": request["received_at"], "requested": stamp}
    for stamp, value in await read_topic(bootstrap, topics.events):
        event = decode(value, "EventCreated")
        entry = times.get(event["request_id"])
        if entry is not None and event["attempt_number"] == 1:
            entry["emitted"] = stamp
    for _, value in await read_topic(bootstrap, topics.attempts):
        attempt = decode(value, "AttemptRecorded")
        entry = times.get(attempt["request_id"])
        if entry is not None and attempt["attempt_number"] == 1:
            entry["begun"] = attempt["created_at"] - (attempt["response_latency_ms"] or 0)
    return times


def stage_rows(times: dict[str, dict[str, float]], rate: int) -> list[list[str]]:
    """One row per stage: p50 / p99 (ms) over the webhooks that have both its ends."""
    rows = []
    for label, start, end in STAGES:
        spans = sorted(t[end] - t[start] for t in times.values() if start in t and end in t)
        if not spans:
            continue
        rows.append(
            [
                f"  {label} at {rate}/s",
                f"{len(spans)}",
                f"p50 {percentile(spans, 0.5):.0f} ms",
                f"p99 {percentile(spans, 0.99):.0f} ms",
                f"mean {sum(spans) / len(spans):.1f} ms",
            ]
        )
    return rows
