"""How one team's transformations are kept from taking every routing slot of a worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class TeamSlots:
    """At most `per_team` transformations of one team run at once; the rest of that team's
    wait here, while other teams' requests go on being routed beside them."""

    def __init__(self, per_team: int) -> None:
        if per_team < 1:
            raise ValueError("a team needs at least one slot")
        self.per_team = per_team
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._running: dict[str, int] = {}

    @asynccontextmanager
    async def slot(self, team_id: str) -> AsyncIterator[None]:
        semaphore = self._slots.setdefault(team_id, asyncio.Semaphore(self.per_team))
        self._users[team_id] = self._users.get(team_id, 0) + 1
        try:
            async with semaphore:
                self._running[team_id] = self._running.get(team_id, 0) + 1
                try:
                    yield
                finally:
                    self._running[team_id] -= 1
        finally:
            # Forget a team nobody waits for, so the map holds only teams at work.
            self._users[team_id] -= 1
            if not self._users[team_id]:
                del self._users[team_id], self._slots[team_id]
                self._running.pop(team_id, None)

    def in_use(self, team_id: str) -> int:
        """Transformations of `team_id` running now."""
        return self._running.get(team_id, 0)


def team_share(concurrency: int) -> int:
    """A team's share of a worker's transformation slots: a quarter, at least one."""
    return max(1, concurrency // 4)
