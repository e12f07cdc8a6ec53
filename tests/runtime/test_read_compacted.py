"""A job's state restored from its compacted topic: each key's last value, deletes gone, and
a missing topic said loudly rather than read as "no state"."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from runtime.errors import RuntimeSetupError
from runtime.kafka import read_compacted
from schemas.topics import Topics


async def test_each_key_reads_back_its_last_value(
    bootstrap: str, topics: Topics, producer: Any
) -> None:
    topic = topics.issues_state
    for key, value in [("a", b"1"), ("b", b"2"), ("a", b"3"), ("c", b"4"), ("b", None)]:
        await producer.send_and_wait(topic, value, key=key.encode())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        assert await read_compacted(consumer, topic) == {"a": b"3", "c": b"4"}
        with pytest.raises(RuntimeSetupError, match="does not exist"):
            await read_compacted(consumer, f"{topic}.missing")
    finally:
        await consumer.stop()
