"""The ingress's partitioner: one partition per short window, every partition in turn."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from runtime.kafka import StickyPartitioner


class Clock:
    def __init__(self, ns: int = 0) -> None:
        self.ns = ns

    def __call__(self) -> int:
        return self.ns


def test_a_window_keeps_one_partition_and_the_next_moves_on() -> None:
    clock = Clock(10_000_000)
    partitioner = StickyPartitioner(window_s=0.005, clock_ns=clock)
    partitions = list(range(8))
    first = {partitioner(key, partitions, partitions) for key in (b"a", b"b", b"c", None)}
    clock.ns = 14_999_999
    assert {partitioner(b"d", partitions, partitions)} == first
    clock.ns = 15_000_000
    (only,) = first
    assert partitioner(b"e", partitions, partitions) == (only + 1) % 8


@given(st.integers(min_value=1, max_value=16), st.integers(min_value=0, max_value=2**62))
def test_windows_share_the_partitions_evenly(count: int, start_ns: int) -> None:
    clock = Clock()
    partitioner = StickyPartitioner(window_s=0.001, clock_ns=clock)
    partitions = list(range(count))
    seen: Counter[int] = Counter()
    for window in range(count * 3):
        clock.ns = start_ns + window * 1_000_000
        seen[partitioner(None, partitions, partitions)] += 1
    assert seen == Counter({p: 3 for p in partitions})


def test_only_available_partitions_are_chosen_while_there_are_some() -> None:
    partitioner = StickyPartitioner()
    assert partitioner(b"k", [0, 1, 2, 3], [2]) == 2
    assert partitioner(b"k", [0, 1], []) in (0, 1)
