"""TeamSlots: one team holds at most its share of the transformation slots."""

from __future__ import annotations

import asyncio

import pytest

from router.fairness import TeamSlots, team_share


async def test_a_team_holds_at_most_its_share_while_another_team_proceeds() -> None:
    slots = TeamSlots(2)
    release = asyncio.Event()
    running: list[str] = []

    async def work(team: str) -> None:
        async with slots.slot(team):
            running.append(team)
            await release.wait()

    tasks = [asyncio.create_task(work("tm_a")) for _ in range(5)]
    other = asyncio.create_task(work("tm_b"))
    while len(running) < 3:
        await asyncio.sleep(0)
    assert sorted(running) == ["tm_a", "tm_a", "tm_b"]
    assert slots.in_use("tm_a") == 2 and slots.in_use("tm_b") == 1
    release.set()
    await asyncio.gather(*tasks, other)
    assert running.count("tm_a") == 5
    assert slots.in_use("tm_a") == 0 and slots._slots == {}  # idle teams are forgotten


@pytest.mark.parametrize(("concurrency", "share"), [(1, 1), (4, 1), (8, 2), (16, 4)])
def test_a_teams_share_is_a_quarter_of_the_slots(concurrency: int, share: int) -> None:
    assert team_share(concurrency) == share
