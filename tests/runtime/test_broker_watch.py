"""BrokerWatch: the broker's reachability, from a question that needs only an answer."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.protocol.admin import ApiVersionRequest

from fasthook.embedded import free_port
from runtime.kafka import BrokerWatch

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
