"""BrokerWatch: the broker's reachability, from a question that needs only an answer."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.admin import ApiVersionRequest

from fasthook.embedded import free_port
from runtime.watch import BrokerWatch, answered_at
from tests.support.poll import eventually

pytestmark = pytest.mark.stack


async def test_a_running_broker_is_reachable(producer):
    watch = BrokerWatch(producer.client)
    assert await watch.check()
    # What the watch asks once it knows a broker: answered, and about no topic at all.
    answer = await producer.client.send(producer.client.get_random_node(), ApiVersionRequest())
    assert answer.error_code == 0 and answer.api_versions


async def test_a_broker_nobody_answers_for_is_not_reachable():
    client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=1000)
    try:
        watch = BrokerWatch(client, timeout_s=2.0)
        assert not await watch.check()
    finally:
        await client.close()


async def test_it_asks_nothing_while_a_consumer_it_hears_has_answers(producer, settings):
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    # Assigned, it fetches by itself (aiokafka's fetch routine), as a config follower does.
    consumer.assign([TopicPartition(settings.topics.config, 0)])
    watch = BrokerWatch(producer.client, interval_s=0.1)
    watch.hear(consumer._client)
    try:

        async def heard() -> bool:
            return watch.heard_lately()

        await eventually(heard, 10, "the consumer's fetches answered", 0.05)
        asked_before = answered_at(producer.client)
        watch.start()
        await asyncio.sleep(1.0)  # ten of the watch's rounds
        assert watch.reachable
        assert answered_at(producer.client) == asked_before, "the watch asked the broker"

        await consumer.stop()  # no more answers to the consumer: the watch asks again

        async def asked() -> bool:
            return answered_at(producer.client) > asked_before

        await eventually(asked, 10, "the watch asking the broker itself", 0.05)
        assert watch.reachable
    finally:
        await watch.stop()
        await consumer.stop()
