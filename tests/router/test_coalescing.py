"""Requests waiting for one (team, code, env)'s transformation go to V8 together
(router.coalescing.Batches over the real sandboxes): fewer calls, each request still gets its
own outcome, and teams never share a batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from router.coalescing import Batches, Item
from router.transform import Outcome, Sandboxes, TransformationFailed

CODE = """
addHandler('transform', (request, context) => {
  if (request.body.do === 'throw') { throw new Error('no thanks ' + context.request_id); }
  request.headers['x-id'] = context.request_id;
  return request;
});
"""


class Recorded:
    """The real sandboxes, on a thread as the router runs them, noting every batch sent."""

    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes
        self.batches: list[tuple[str, list[str]]] = []

    async def run(
        self, team_id: str, code: str, env: dict[str, str], items: list[Item]
    ) -> list[Outcome]:
        self.batches.append((team_id, [context["request_id"] for _, context in items]))
        return await asyncio.to_thread(self.sandboxes.run_batch, team_id, code, env, items)


async def transform(batches: Batches, team: str, i: int, do: str = "ok") -> Any:
    request = {"headers": {}, "body": {"do": do}}
    try:
        return await batches.transform(team, CODE, {}, request, {"request_id": f"{team}-{i}"})
    except TransformationFailed as failed:
        return failed


async def test_requests_waiting_together_go_in_few_batches_each_with_its_own_outcome(
    opened,
) -> None:
    recorded = Recorded(opened())
    batches = Batches(recorded.run, max_batch=8)
    kinds = ["throw" if i % 5 == 3 else "ok" for i in range(40)]
    results = await asyncio.gather(*(transform(batches, "tm_a", i, k) for i, k in enumerate(kinds)))
    for i, (kind, result) in enumerate(zip(kinds, results, strict=True)):
        if kind == "throw":
            assert isinstance(result, TransformationFailed) and f"tm_a-{i}" in str(result)
        else:
            assert result["headers"] == {"x-id": f"tm_a-{i}"}
    # Every request went exactly once, in arrival order, in batches of at most 8.
    sent = [rid for _, ids in recorded.batches for rid in ids]
    assert sent == [f"tm_a-{i}" for i in range(40)]
    assert len(recorded.batches) == 5 and all(len(ids) <= 8 for _, ids in recorded.batches)
    assert batches._waiting == {}  # nobody waits: the key's drainer is gone


async def test_a_lone_request_is_sent_at_once_and_teams_never_share_a_batch(opened) -> None:
    recorded = Recorded(opened())
    batches = Batches(recorded.run)
    assert (await transform(batches, "tm_a", 0))["headers"] == {"x-id": "tm_a-0"}
    assert recorded.batches == [("tm_a", ["tm_a-0"])]
    await asyncio.gather(
        *(transform(batches, team, i) for i in range(6) for team in ("tm_a", "tm_b"))
    )
    for team, ids in recorded.batches:
        assert all(rid.startswith(team + "-") for rid in ids)
    assert {team for team, _ in recorded.batches} == {"tm_a", "tm_b"}


async def test_a_waiter_cancelled_is_left_out_and_the_others_are_answered(opened) -> None:
    recorded = Recorded(opened())
    batches = Batches(recorded.run)
    first = asyncio.create_task(transform(batches, "tm_a", 0))
    await asyncio.sleep(0)  # the first batch is on its way; the next ones queue behind it
    queued = [asyncio.create_task(transform(batches, "tm_a", i)) for i in range(1, 4)]
    await asyncio.sleep(0)
    queued[1].cancel()
    assert (await first)["headers"] == {"x-id": "tm_a-0"}
    assert (await queued[0])["headers"] == {"x-id": "tm_a-1"}
    assert (await queued[2])["headers"] == {"x-id": "tm_a-3"}
    with pytest.raises(asyncio.CancelledError):
        await queued[1]
    assert "tm_a-2" not in [rid for _, ids in recorded.batches for rid in ids]


async def test_a_batch_that_breaks_fails_its_waiters_and_the_next_ones_still_run(opened) -> None:
    sandboxes = opened()
    calls = 0

    async def run(team_id: str, code: str, env: dict[str, str], items: list[Item]) -> list[Outcome]:
        nonlocal calls
        calls += 1
        if calls == 1:  # e.g. the thread pool shut down under it
            raise RuntimeError("cannot schedule new futures after shutdown")
        return await asyncio.to_thread(sandboxes.run_batch, team_id, code, env, items)

    batches = Batches(run)
    with pytest.raises(RuntimeError):
        await batches.transform("tm_a", CODE, {}, {"headers": {}, "body": {}}, {"request_id": "r"})
    assert batches._waiting == {}
    assert (await transform(batches, "tm_a", 1))["headers"] == {"x-id": "tm_a-1"}


def test_a_batch_holds_at_least_one_request(opened) -> None:
    with pytest.raises(ValueError):
        Batches(Recorded(opened()).run, max_batch=0)
