"""The group consumer (runtime.consuming) on the real broker: a commit the broker keeps
answering with a retriable error (aiokafka retries it without end) neither hangs the stop nor
holds up the commits after it."""

from __future__ import annotations

import asyncio
import time

from aiokafka.structs import ConsumerRecord

from runtime import consuming
from runtime.consuming import ConcurrentConsumer


async def test_a_commit_that_never_answers_is_given_up_and_the_stop_ends(
    settings, producer, monkeypatch
):
    topic = settings.topics.events  # the test's own namespace
    handled: list[int] = []

    async def handle(message: ConsumerRecord) -> None:
        handled.append(message.offset)

    monkeypatch.setattr(consuming, "COMMIT_TIMEOUT_S", 0.3)
    consumer = ConcurrentConsumer(settings, [topic], f"{settings.topic_namespace}-test", handle, 4)
    commits = 0

    async def endless_retry(offsets: object) -> None:
        # What aiokafka does while the broker answers a commit with a retriable error.
        nonlocal commits
        commits += 1
        await asyncio.Event().wait()

    await consumer.start()
    consumer.consumer.commit = endless_retry
    try:
        await producer.send_and_wait(topic, b"one", key=b"k")
        deadline = time.monotonic() + 30
        while (not handled or commits < 2) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # The first commit was given up: the loop's next one was tried, not held behind it.
        assert handled == [0]
        assert commits >= 2
    finally:
        started = time.monotonic()
        await asyncio.wait_for(consumer.stop(1.0), 30)
    assert time.monotonic() - started < 10
