"""One consumer for the topics whose records only wait: held events (for an unpause) and the
retry tiers (for their due time).

They were read by a consumer group each (six: held and five tiers), so that a long wait in one
never held up another; idle, that was six fetch loops and six groups' heartbeats for records
that wait seconds to an hour. One group now reads them all, with a budget of records in flight
per topic: a topic at its budget is paused (its partitions fetch nothing more, the others go on)
until some of its records are handed back, so an hour's tier full of waiting records holds up
neither the 5 s tier nor held events.

The group is new: before its first member joins, it takes the old groups' committed offsets
(runtime.seeding), so an upgrade hands back no retry or held event the old groups had finished,
and those they had not are read again, as after any restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from runtime.consuming import ConcurrentConsumer, Finish, Handler
from runtime.resting import BACKGROUND_HOLD_MAX_S
from runtime.seeding import seed_group_offsets
from runtime.settings import Settings

# Events waiting in a tier or for an unpause cost only memory, so many may wait at once: this
# many per topic (what each topic's own consumer allowed before).
WAITING_IN_FLIGHT = 10_000
# How long the idle loop waits for records before coming round (to commit what finished since).
WAITING_REST_S = BACKGROUND_HOLD_MAX_S
# How long the consumer's idle fetches may rest. Only the deliverer writes to these topics, and
# its own process wakes the consumer when it writes one (`Delivery.on_waiting`), as it does when
# a connection is unpaused (held events not read yet are read at once). So only a record
# another worker wrote (`--workers N`) after a quiet of 8 s or more is read up to this late: a
# retry is due its tier's wait (5 s or more) after it is written, so only a parked event due
# sooner can come back that much later.
WAITING_HOLD_S = 2 * BACKGROUND_HOLD_MAX_S
# The group heartbeats every 5 s instead of 2. What it costs: a member notices a rebalance (a
# worker joining or leaving) up to 5 s later, and on a real Kafka a crashed worker's held and
# retry partitions move after 20 s instead of 10 — seconds more on records that wait seconds
# to an hour anyway. The events group keeps the defaults: its records are waited for.
WAITING_GROUP_OPTIONS: dict[str, object] = {
    "heartbeat_interval_ms": 5_000,
    "session_timeout_ms": 20_000,
}


def at_budget(in_flight: int, budget: int) -> bool:
    """Whether a topic's partitions are paused: its records in flight have reached its budget
    (a fetch may bring it past by one batch; the pause stops the next)."""
    return in_flight >= budget


@dataclass
class TopicLine:
    """One topic's handler and its records in flight."""

    handle: Handler
    budget: int
    in_flight: int = 0
    paused: bool = False


class WaitingConsumer(ConcurrentConsumer):
    """One group over several topics of waiting records, each with its own handler and its
    own budget of records in flight (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        group: str,
        handlers: Mapping[str, Handler],
        budget: int = WAITING_IN_FLIGHT,
        *,
        seed_from: list[str] | None = None,
        leave_on_stop: bool = False,
    ) -> None:
        self.lines = {topic: TopicLine(handle, budget) for topic, handle in handlers.items()}
        self.seed_from = seed_from or []
        self.bootstrap = settings.kafka_bootstrap
        super().__init__(
            settings,
            list(handlers),
            group,
            self._handle,
            # Only a safety net: the topics' budgets bound what waits (plus one batch each).
            2 * budget * len(handlers),
            # Records only waiting are cancelled at a stop: uncommitted, they are read again.
            drain_on_stop=False,
            # Leaving such a record behind would lose its event: its handling is retried.
            skip_failed=False,
            idle_rest_s=WAITING_REST_S,
            idle_hold_max_s=WAITING_HOLD_S,
            leave_on_stop=leave_on_stop,
            consumer_options=WAITING_GROUP_OPTIONS,
        )

    def in_flight_of(self, topic: str) -> int:
        return self.lines[topic].in_flight

    async def start(self) -> None:
        if self.seed_from:
            await seed_group_offsets(self.bootstrap, self.group, self.lines, self.seed_from)
        await super().start()

    async def _handle(self, record: ConsumerRecord) -> None:
        await self.lines[record.topic].handle(record)

    async def dispatch(
        self, tp: TopicPartition, messages: list[ConsumerRecord], finish: Finish
    ) -> None:
        line = self.lines[tp.topic]
        line.in_flight += len(messages)
        if not line.paused and at_budget(line.in_flight, line.budget):
            self._pause(tp.topic, line)

        def finished(offset: int) -> None:
            finish(offset)
            line.in_flight -= 1
            if line.paused and not at_budget(line.in_flight, line.budget):
                self._resume(tp.topic, line)

        await super().dispatch(tp, messages, finished)

    async def on_assigned(self, assigned: list[TopicPartition]) -> None:
        # A new assignment starts unpaused: a topic still at its budget stays paused.
        for topic, line in self.lines.items():
            if line.paused:
                self._pause(topic, line)

    def _of(self, topic: str) -> list[TopicPartition]:
        return [tp for tp in self.assignment() if tp.topic == topic]

    def _pause(self, topic: str, line: TopicLine) -> None:
        line.paused = True
        self.consumer.pause(*self._of(topic))

    def _resume(self, topic: str, line: TopicLine) -> None:
        line.paused = False
        self.consumer.resume(*self._of(topic))
        self.wake()  # a resting fetch would make the resumed partitions wait for its end
