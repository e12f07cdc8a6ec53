"""Requests routed out of order are acked in offset order per partition: Faust never sees an
ack past a request still being routed (it would commit past it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.acks import InOrderAcks


def test_a_request_finished_early_waits_for_the_one_before_it() -> None:
    acked: list[tuple[int, int]] = []
    acks: InOrderAcks[tuple[int, int]] = InOrderAcks(acked.append)
    first, second = acks.taken(0, (0, 190)), acks.taken(0, (0, 191))
    other = acks.taken(1, (1, 7))
    acks.finished(0, second)
    acks.finished(1, other)  # another partition is not held up
    assert acked == [(1, 7)]
    acks.finished(0, first)
    assert acked == [(1, 7), (0, 190), (0, 191)]
    assert acks.waiting() == 0


@given(st.lists(st.integers(0, 3), min_size=1, max_size=40), st.randoms(use_true_random=False))
def test_acks_follow_offsets_whatever_order_routing_ends_in(partitions: list[int], rnd) -> None:
    acked: list[tuple[int, int]] = []
    acks: InOrderAcks[tuple[int, int]] = InOrderAcks(acked.append)
    offsets: dict[int, int] = {}
    slots = []
    for partition in partitions:
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        slots.append((partition, offset, acks.taken(partition, (partition, offset))))
    rnd.shuffle(slots)
    finished: set[tuple[int, int]] = set()
    for partition, offset, slot in slots:
        acks.finished(partition, slot)
        finished.add((partition, offset))
        # Never an ack past an offset still being routed; every offset with all before it
        # finished is acked.
        for p, n in offsets.items():
            done = [o for (q, o) in acked if q == p]
            assert done == list(range(len(done)))
            first_open = next((o for o in range(n) if (p, o) not in finished), n)
            assert len(done) == first_open
    assert sorted(acked) == sorted((p, o) for p, n in offsets.items() for o in range(n))
    assert acks.waiting() == 0


def test_why_faust_needs_acks_in_order() -> None:
    """The finding itself, on Faust's own bookkeeping: committed position 190 (the next offset
    to read), 190 still being routed, 191 and 192 acked → Faust commits 193, past 190."""
    from collections import defaultdict
    from types import SimpleNamespace

    from faust.transport.consumer import Consumer
    from intervaltree import IntervalTree

    tp = ("fasthook.requests", 6)
    consumer = SimpleNamespace(
        _acked=defaultdict(list, {tp: [191, 192]}),
        _gap=defaultdict(IntervalTree),
        _committed_offset=defaultdict(lambda: None, {tp: 190}),
        _acked_index=defaultdict(set, {tp: {191, 192}}),
    )
    assert Consumer._new_offset(consumer, tp) == 193  # 190 would be skipped
