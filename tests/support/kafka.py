"""Reading topics back in tests, polling (never sleeping) until what is expected is there."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from runtime.kafka import assign_from_beginning
from runtime.seeding import committed
from schemas.codec import decode


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int | None = None,
    timeout_s: float = 10.0,
    raw: bool = False,
) -> list[Any]:
    """Every record of `topic` from the beginning: all there is now, or at least `expect`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await assign_from_beginning(consumer, topic)
        partitions = list(ends)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for m in messages:
                    out.append(m if raw else decode(m.value))
            if expect is None:
                positions = {tp: await consumer.position(tp) for tp in partitions}
                if all(positions[tp] >= ends[tp] for tp in partitions):
                    return out
            elif len(out) >= expect:
                return out
            await asyncio.sleep(0)
        if expect is not None:
            raise AssertionError(f"{topic}: expected {expect} records, found {len(out)}")
        return out
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The consumer `group`'s committed offset of each partition of `topic` (0: none yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await committed(admin, group)
    finally:
        await admin.close()
    return {tp.partition: max(offset, 0) for tp, offset in offsets.items() if tp.topic == topic}


async def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """How many records of `topic` the consumer `group` has committed past, all partitions."""
    return sum((await committed_offsets(bootstrap, group, topic)).values())
