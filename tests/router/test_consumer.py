"""The router's Faust consumer never commits past a request it did not route (router.consumer):
its pure decisions, and each of Faust's three faults pinned on a real Faust consumer."""

from __future__ import annotations

from collections.abc import Iterator

import faust
import pytest
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from hypothesis import given
from hypothesis import strategies as st

from router.consumer import RouterConsumer, blocks_commit, gap_ranges, install

TOPIC = "fasthook.requests"


def test_the_committed_offset_itself_must_be_accounted_for() -> None:
    assert blocks_commit(100, [101, 102], [])  # 100 is the next offset to read: not routed
    assert not blocks_commit(100, [100, 101], [])
    assert not blocks_commit(100, [101], [100])  # 100 is a known gap (a transaction marker)
    assert blocks_commit(100, [101], [105])  # a gap above the acked run does not count
    assert not blocks_commit(None, [7], [])  # nothing committed yet: Faust's own rule
    assert not blocks_commit(100, [], [])


@given(st.integers(0, 50), st.sets(st.integers(0, 80), min_size=1), st.sets(st.integers(0, 80)))
def test_a_commit_is_blocked_exactly_when_the_next_offset_is_unaccounted(
    committed: int, acked: set[int], gap_starts: set[int]
) -> None:
    accounted = acked | {s for s in gap_starts if s <= max(acked)}
    assert blocks_commit(committed, sorted(acked), gap_starts) == (min(accounted) > committed)


def test_a_gap_leaves_out_what_is_still_being_routed() -> None:
    assert gap_ranges(72, 74, []) == [(72, 74)]
    assert gap_ranges(72, 74, [73]) == [(72, 72), (74, 74)]
    assert gap_ranges(72, 74, [72, 73, 74, 90]) == []
    assert gap_ranges(72, 71, []) == []


@given(st.integers(0, 30), st.integers(0, 30), st.sets(st.integers(0, 40)))
def test_gap_ranges_are_the_offsets_less_the_pending(
    first: int, span: int, pending: set[int]
) -> None:
    last = first + span - 1
    ranges = gap_ranges(first, last, pending)
    covered = [o for a, b in ranges for o in range(a, b + 1)]
    assert covered == sorted(set(range(first, last + 1)) - pending)
    assert all(a <= b for a, b in ranges)


@pytest.fixture
def consumer() -> Iterator[RouterConsumer]:
    app = faust.App("router-consumer-test", broker="kafka://127.0.0.1:9")
    install(app, [TOPIC])
    app.topics._acking_topics.add(TOPIC)  # as when an agent reads it
    consumer = app.consumer
    assert isinstance(consumer, RouterConsumer)
    yield consumer


def message(offset: int, generation: int, partition: int = 2) -> ConsumerMessage:
    return ConsumerMessage(
        TOPIC, partition, offset, 0.0, 0, None, b"k", b"v", None, generation_id=generation
    )


class _Event:
    def __init__(self, consumer: RouterConsumer, msg: ConsumerMessage) -> None:
        self.message, self._consumer = msg, consumer

    def ack(self) -> bool:
        return self.message.ack(self._consumer)


def test_faust_alone_commits_one_past_an_unrouted_offset() -> None:
    """Fault 2 on Faust's own class: committed position 100, 100 never routed, 101 acked."""
    app = faust.App("faust-alone", broker="kafka://127.0.0.1:9")
    plain = app.consumer
    tp = TP(TOPIC, 2)
    plain._committed_offset[tp] = 100
    plain._acked[tp] = [101]
    plain._acked_index[tp] = {101}
    assert plain._new_offset(tp) == 102  # 100 skipped


def test_no_commit_past_an_offset_the_router_did_not_finish(consumer: RouterConsumer) -> None:
    tp = TP(TOPIC, 2)
    consumer._committed_offset[tp] = 100
    consumer.finished(_Event(consumer, message(101, 0)))  # type: ignore[arg-type]
    assert consumer._acked[tp] == [101]
    assert consumer._new_offset(tp) is None
    consumer.finished(_Event(consumer, message(100, 0)))  # type: ignore[arg-type]
    assert consumer._new_offset(tp) == 102


def test_a_message_skipped_at_a_rebalance_is_not_acked(consumer: RouterConsumer) -> None:
    """Fault 3: a stream acks what it skips; only what the router finished counts."""
    tp = TP(TOPIC, 2)
    skipped = message(100, 3)
    consumer._unacked_messages.add(skipped)
    assert _Event(consumer, skipped).ack() is False
    assert consumer._acked[tp] == []
    assert skipped not in consumer._unacked_messages  # a rebalance does not wait for it


def test_a_read_offset_from_an_earlier_generation_is_not_kept(consumer: RouterConsumer) -> None:
    """Fault 1: the fetch loop writes the offset of the message it handed over after the
    rebalance reset it; the new generation must not drop messages below it as read."""
    tp = TP(TOPIC, 2)
    consumer.app.consumer_generation_id = 4
    consumer._read_offset.update({tp: 100})  # the seek to the committed position 100
    assert consumer._read_offset[tp] == 99  # read up to 99: a marker at 100 shows as a gap
    consumer.handing = message(101, 3)  # handed over in generation 3
    consumer._read_offset[tp] = 101
    assert consumer._read_offset[tp] == 99
    consumer.handing = message(101, 4)
    consumer._read_offset[tp] = 101
    assert consumer._read_offset[tp] == 101


async def test_a_gap_does_not_count_the_message_that_revealed_it(consumer: RouterConsumer) -> None:
    tp = TP(TOPIC, 2)
    in_flight = message(73, 4)
    consumer._unacked_messages.add(in_flight)
    await consumer._add_gap(tp, 72, 75)  # Faust's call when 75 follows 71
    covered = sorted(o for iv in consumer._gap[tp] for o in range(iv.begin, iv.end))
    assert covered == [72, 74]


def test_a_resume_without_a_suspension_keeps_what_the_queues_hold(consumer: RouterConsumer) -> None:
    """Fault 4: Faust resumes flow again after its seek; that must not empty the queues."""
    from mode.utils.queues import FlowControlQueue

    flow = consumer.app.flow_control
    queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()  # from the initial suspension
    queue.put_nowait(99)  # fetched after the seek
    flow.resume()
    assert queue.qsize() == 1
    flow.suspend()
    flow.resume()  # a real rebalance: what was fetched before it is read again after its seek
    assert queue.qsize() == 0


def test_a_commit_held_at_an_offset_nobody_handles_is_reported(
    consumer: RouterConsumer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("router.consumer.HOLE_REPORT_S", 0.0)
    tp = TP(TOPIC, 2)
    consumer._committed_offset[tp] = 100
    consumer.finished(_Event(consumer, message(101, 0)))  # type: ignore[arg-type]
    in_flight = message(100, 0)
    consumer._unacked_messages.add(in_flight)  # being routed: a wait, not a hole
    assert consumer._new_offset(tp) is None
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    consumer._unacked_messages.discard(in_flight)
    assert consumer._new_offset(tp) is None
    assert consumer._new_offset(tp) is None  # said once
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "offset 100 of fasthook.requests[2]" in errors[0]
