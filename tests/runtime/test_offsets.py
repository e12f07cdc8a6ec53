"""`runtime.offsets.PartitionOffsets`: the committed offset never moves past a delivery that
has not finished, whatever order deliveries finish in (a crash must not skip one)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runtime.offsets import PartitionOffsets


def test_nothing_started_commits_nothing() -> None:
    offsets = PartitionOffsets()
    assert offsets.committable() is None and offsets.in_flight == 0


def test_an_unfinished_offset_holds_the_commit_back() -> None:
    offsets = PartitionOffsets()
    for offset in (10, 11, 12):
        offsets.started(offset)
    offsets.finished(11)
    offsets.finished(12)
    assert offsets.committable() == 10 and offsets.in_flight == 3
    offsets.finished(10)
    assert offsets.committable() == 13 and offsets.in_flight == 0


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Offsets started in order (gaps allowed: compacted or skipped records) and the order
    some of them finish in."""
    gaps = draw(st.lists(st.integers(1, 3), min_size=1, max_size=30))
    started = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    finished = draw(st.permutations(started))
    return started, finished[: draw(st.integers(0, len(finished)))]


@given(runs())
def test_the_commit_is_the_oldest_unfinished_offset_or_one_past_the_last(
    run: tuple[list[int], list[int]],
) -> None:
    started, finished = run
    offsets = PartitionOffsets()
    for offset in started:
        offsets.started(offset)
    done: set[int] = set()
    for offset in finished:
        offsets.finished(offset)
        done.add(offset)
        unfinished = [o for o in started if o not in done]
        expected = min(unfinished) if unfinished else max(started) + 1
        assert offsets.committable() == expected
        # Never past a record still being delivered.
        assert all(o >= expected for o in unfinished)
        # Finished ones behind it are still held: they commit together once it is done.
        assert offsets.in_flight == (
            len([o for o in started if o >= expected]) if unfinished else 0
        )
