"""Which offset may be committed when records finish out of order.

Deliveries of one partition run concurrently and finish in any order; the committed offset may
only move past a record once it and every record before it have finished (attempt recorded),
so a crash never skips an unfinished delivery.
"""

from __future__ import annotations

import heapq


class PartitionOffsets:
    def __init__(self) -> None:
        self._pending: list[int] = []  # heap of started, unfinished offsets
        self._finished: set[int] = set()
        self._next = -1  # one past the highest offset started

    def started(self, offset: int) -> None:
        heapq.heappush(self._pending, offset)
        self._next = max(self._next, offset + 1)

    def finished(self, offset: int) -> None:
        self._finished.add(offset)
        while self._pending and self._pending[0] in self._finished:
            self._finished.discard(heapq.heappop(self._pending))

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def committable(self) -> int | None:
        """The offset to commit (the next one to read after a restart), or None."""
        if self._pending:
            return self._pending[0]
        return self._next if self._next >= 0 else None
