"""An empty assignment from the broker (a member that joined while the group was assigned)
is read as no partitions and the member joins again — aiokafka alone fails to decode it and
its consumer reads nothing from then on (runtime.coordination)."""

from __future__ import annotations

from aiokafka.coordinator.protocol import ConsumerProtocol

from runtime.consuming import ConcurrentConsumer
from runtime.coordination import NO_PARTITIONS, TolerantCoordinator, read_as_assignment
from tests.support.poll import eventually


def test_empty_bytes_read_as_an_assignment_of_no_partitions() -> None:
    assert ConsumerProtocol.ASSIGNMENT.decode(read_as_assignment(b"")).partitions() == []
    assert read_as_assignment(NO_PARTITIONS) == NO_PARTITIONS


async def test_a_member_assigned_nothing_joins_again_and_gets_its_partitions(
    settings, producer
) -> None:
    topic = settings.topics.events  # the test's own namespace
    handled: list[bytes] = []

    async def handle(message) -> None:
        handled.append(message.value)

    consumer = ConcurrentConsumer(settings, [topic], f"{settings.topic_namespace}-t", handle, 4)
    await consumer.start()
    try:
        coordinator = consumer.consumer._coordinator
        assert isinstance(coordinator, TolerantCoordinator)

        async def assigned() -> bool:
            return bool(consumer.consumer.assignment())

        await eventually(assigned, 30, "the first assignment")
        generation = coordinator.generation
        # What the embedded broker answers a member that joined mid-assignment: no bytes.
        await coordinator._on_join_complete(generation, coordinator.member_id, "roundrobin", b"")
        assert consumer.consumer.assignment() == set()
        await eventually(assigned, 30, "the assignment of the next round")
        assert coordinator.generation > generation
        await producer.send_and_wait(topic, b"after", key=b"k")

        async def read_after() -> bool:
            return b"after" in handled

        await eventually(read_after, 30, "a record read after it")
    finally:
        await consumer.stop(1.0)
