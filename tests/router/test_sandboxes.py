"""The V8 sandboxes (router.transform.Sandboxes): an isolate per team, a bounded total memory,
and output that is always a clear success or a TransformationFailed."""

from __future__ import annotations

import threading

import pytest

from router.transform import (
    MEMORY_BUDGET_BYTES,
    MEMORY_LIMIT_BYTES,
    Sandboxes,
    TransformationFailed,
)

# Global state inside the isolate shows which isolate ran the code.
COUNTER = """
var runs = 0;
addHandler('transform', (request) => { runs += 1; request.runs = runs; return request; });
"""
SLOW = """
addHandler('transform', (request) => {
  var until = Date.now() + 300; while (Date.now() < until) {} return request;
});
"""
DEEP = """
addHandler('transform', (request) => {
  var node = {}; for (var i = 0; i < 5000; i++) { node = {a: node}; } request.body = node;
  return request;
});
"""


def runs(sandboxes: Sandboxes, team: str, code: str = COUNTER) -> int:
    return sandboxes.run(team, code, {}, {"headers": {}}, {})["runs"]


def test_the_default_cache_stays_within_the_documented_memory_budget() -> None:
    sandboxes = Sandboxes()
    assert sandboxes.max_isolates * sandboxes.memory_bytes <= MEMORY_BUDGET_BYTES
    assert sandboxes.memory_bytes == MEMORY_LIMIT_BYTES and sandboxes.max_isolates >= 8


def test_identical_code_of_two_teams_runs_in_two_isolates() -> None:
    sandboxes = Sandboxes()
    assert [runs(sandboxes, "tm_a"), runs(sandboxes, "tm_a")] == [1, 2]
    assert runs(sandboxes, "tm_b") == 1  # team b never sees team a's state
    assert sandboxes.live == 2


def test_least_recently_used_isolate_is_evicted_at_the_budget() -> None:
    sandboxes = Sandboxes(memory_budget_bytes=2 * MEMORY_LIMIT_BYTES)
    assert sandboxes.max_isolates == 2
    runs(sandboxes, "tm_a")
    runs(sandboxes, "tm_b")
    runs(sandboxes, "tm_a")  # a is now the most recently used
    runs(sandboxes, "tm_c")  # evicts b
    assert sandboxes.live == 2
    assert runs(sandboxes, "tm_a") == 3  # kept
    assert runs(sandboxes, "tm_b") == 1  # a fresh isolate


def test_an_isolate_is_not_closed_while_it_runs() -> None:
    sandboxes = Sandboxes(memory_budget_bytes=MEMORY_LIMIT_BYTES)
    results: list[object] = []

    def slow() -> None:
        try:
            results.append(sandboxes.run("tm_a", SLOW, {}, {"headers": {}}, {}))
        except Exception as exc:  # the test reports whatever happened
            results.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    # While a's isolate runs, b needs the only place in the budget.
    assert runs(sandboxes, "tm_b") == 1
    thread.join()
    assert results == [{"headers": {}}]


def test_concurrent_first_runs_of_one_code_share_one_isolate() -> None:
    sandboxes = Sandboxes()
    threads = [threading.Thread(target=runs, args=(sandboxes, "tm_a")) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sandboxes.live == 1
    assert runs(sandboxes, "tm_a") == 7


def test_deeply_nested_output_fails_the_transformation_only() -> None:
    with pytest.raises(TransformationFailed) as failed:
        Sandboxes().run("tm_a", DEEP, {}, {"headers": {}}, {})
    assert "nested" in str(failed.value)
