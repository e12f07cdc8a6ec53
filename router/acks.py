"""Acknowledging requests in offset order while routing them out of order.

The router routes each request in a task of its own, so one team's slow transformation does
not hold up another team's requests. Faust commits the first run of consecutive acked offsets
of a partition, and counts a run that starts one past the committed position as following it
(faust-streaming 0.15: `min(acked) - committed > 1` is its gap test, with `committed` the next
offset to read): a request still being routed while the next one is acked is committed past —
and lost if the worker is restarted or loses the partition before it is done (the chaos run
found one). So acks are handed to Faust in offset order per partition: a request finished early
waits (acked, not routed again) until every earlier request of its partition is finished.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass(slots=True)
class _Slot(Generic[Item]):
    item: Item
    done: bool = False


@dataclass
class InOrderAcks(Generic[Item]):
    """Items taken per partition in offset order; `ack` is called on each, in that order, once
    it and every earlier item of its partition are finished."""

    ack: Callable[[Item], None]
    _pending: dict[Hashable, deque[_Slot[Item]]] = field(default_factory=dict)

    def taken(self, partition: Hashable, item: Item) -> _Slot[Item]:
        slot = _Slot(item)
        self._pending.setdefault(partition, deque()).append(slot)
        return slot

    def finished(self, partition: Hashable, slot: _Slot[Item]) -> None:
        slot.done = True
        queue = self._pending[partition]
        while queue and queue[0].done:
            self.ack(queue.popleft().item)
        if not queue:
            del self._pending[partition]

    def waiting(self) -> int:
        """Items taken and not yet acked (finished or not)."""
        return sum(len(q) for q in self._pending.values())
