"""An empty assignment from the broker means "no partitions for you this round", not a crash.

A SyncGroup answer may carry empty assignment bytes for a member the group's leader did not
know of when it computed the assignment (it joined at that moment): Kafka's own clients read
them as no partitions. aiokafka 0.14 fails to decode them, its coordination routine dies, and
the consumer reads nothing for the rest of its life. The embedded broker answers so when two
members join one group at once (two workers starting together). Here the member takes no
partitions and asks to join again, so that the next round gives it its share; if that round
is empty too, it waits for the group's next rebalance instead of making the group rebalance
without end.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.consumer import consumer as aiokafka_consumer
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

log = logging.getLogger(__name__)

NO_PARTITIONS = ConsumerProtocolMemberAssignment(0, [], b"").encode()


def read_as_assignment(member_assignment_bytes: bytes) -> bytes:
    """What to decode: the broker's bytes, or an assignment of no partitions for none."""
    return member_assignment_bytes or NO_PARTITIONS


class TolerantCoordinator(GroupCoordinator):  # type: ignore[misc]  # aiokafka is untyped
    _rejoined_for_empty = False

    async def _on_join_complete(
        self, generation: int, member_id: str, protocol: str, member_assignment_bytes: bytes
    ) -> Any:
        empty = not member_assignment_bytes
        result = await super()._on_join_complete(
            generation, member_id, protocol, read_as_assignment(member_assignment_bytes)
        )
        if empty and not self._rejoined_for_empty:
            log.warning(
                "the broker assigned this member nothing (it joined while the group was "
                "assigned): joining again",
                extra={"group": self.group_id, "generation": generation},
            )
            self.request_rejoin()
        self._rejoined_for_empty = empty
        return result


def install() -> None:
    """Every aiokafka consumer this process starts from now on reads an empty assignment."""
    aiokafka_consumer.GroupCoordinator = TolerantCoordinator
