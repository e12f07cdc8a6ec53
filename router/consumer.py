"""The router's Faust consumer: it never commits past a request it did not route.

faust-streaming 0.15's consumer decides what to commit from the offsets its streams ack, from
the offsets it read ("read offsets") and from gaps in them (offsets a fetch skipped: compacted
records, transaction markers). Faults in that bookkeeping together lost a request when
the broker paused past the session timeout and the group rebalanced at resume (the chaos run;
reproduced by tests/chaos/test_broker_pause.py):

1. Its fetch loop records the offset of the message it was handing to a stream when the
   rebalance began *after* the rebalance reset the read offsets; the new generation then drops
   the re-fetched messages below that offset as "already read".
2. Its commit treats an acked offset one past the committed position as following it, but the
   committed position is the next offset to read: that offset itself must be acked first. So
   the dropped message is committed past.
3. Messages a stream skips at a rebalance (fetched in the generation before) are acked as if
   handled, and a gap is counted as acked up to and including the message that revealed it.
4. After the seek to the committed offsets it empties the streams' queues once more, dropping
   what was fetched after the seek.

For the topics it is given (requests, dedupe candidates) this consumer: ignores a read offset
written for a message of an earlier generation; commits only a run of acked offsets that starts
exactly at the committed position (a transaction marker there is seen as a gap: the read offset
after a seek is the one before it); takes acks only for messages the router finished
(`finished`), so a skipped message is read again after the rebalance's seek, not acked; counts as
a gap neither the message that revealed it nor any message still being routed; and keeps what
the streams' queues hold when flow resumes without having been suspended. The decisions are the
pure functions below; the classes wire them into Faust.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, cast
from weakref import WeakSet

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message
from mode.utils.queues import FlowControlEvent

log = logging.getLogger(__name__)

HOLE_REPORT_S = 60.0  # a commit held this long at an offset nobody handles is reported


def blocks_commit(committed: int | None, acked: Sequence[int], gap_starts: Iterable[int]) -> bool:
    """Whether nothing may be committed yet: the lowest offset accounted for (acked, or the
    start of a gap below the highest acked) is past the committed position, which is the next
    offset to read — so that offset is neither routed nor known to be missing."""
    if not acked or committed is None:
        return False
    top = max(acked)
    lowest = min([*acked, *(start for start in gap_starts if start <= top)])
    return lowest > committed


def gap_ranges(first: int, last: int, pending: Iterable[int]) -> list[tuple[int, int]]:
    """The offsets first..last (inclusive) that a fetch skipped, less those still being routed
    (a re-fetch after a seek can show offsets in flight as a gap), as inclusive ranges."""
    out: list[tuple[int, int]] = []
    start = first
    for offset in sorted({p for p in pending if first <= p <= last}):
        if offset > start:
            out.append((start, offset - 1))
        start = offset + 1
    if start <= last:
        out.append((start, last))
    return out


class _ReadOffsets(defaultdict[TP, int | None]):
    """Faust's read offsets: the last offset read per partition, from which its fetch loop
    finds gaps. Refuses the write the loop makes for a message of an earlier generation
    (fault 1); after a seek (`update`) holds the offset before the committed one, so a gap at
    the committed position itself (a transaction marker) is seen as one."""

    def __init__(self, consumer: RouterConsumer) -> None:
        super().__init__(lambda: None)
        self._consumer = consumer

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        handing = self._consumer.handing
        if (
            handing is not None
            and handing.tp == tp
            and handing.offset == offset
            and tp.topic in self._consumer.guarded
            and handing.generation_id != self._consumer.app.consumer_generation_id
        ):
            return
        super().__setitem__(tp, offset)

    def update(self, offsets: Any = (), /, **_: Any) -> None:
        for tp, offset in dict(offsets).items():
            if tp.topic in self._consumer.guarded and offset is not None:
                offset = offset - 1 if offset > 0 else None
            super().__setitem__(tp, offset)


class _ResumeKeepsQueues(FlowControlEvent):
    """Faust resumes flow twice after a rebalance, before its seek to the committed offsets
    and after it, and a resume empties the streams' queues: the second one dropped messages
    fetched after the seek, never to be read again (fault 4). Queues are emptied only when
    flow resumes from a suspension."""

    def resume(self) -> None:
        if not self.is_active():
            super().resume()


class RouterConsumer(driver.Consumer):  # type: ignore[misc]
    """Faust's aiokafka consumer with the bookkeeping above for the topics in `guarded`."""

    guarded: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handing: Message | None = None  # the message the fetch loop is handing over
        self._read_offset = _ReadOffsets(self)
        self._finished: WeakSet[Message] = WeakSet()
        self._holes: dict[TP, tuple[float, bool]] = {}  # since (monotonic), said
        hand_over = self.callback

        async def callback(message: Message) -> None:
            self.handing = message
            await hand_over(message)

        self.callback = callback

    def finished(self, event: faust.EventT) -> None:
        """The router is done with this event: its offset may be committed (fault 3)."""
        self._finished.add(event.message)
        event.ack()

    def ack(self, message: Message) -> bool:
        if message.topic in self.guarded and message not in self._finished:
            # A stream skipping it at a rebalance: it is read again after the seek. Not waited
            # for either (a rebalance waits for every message a stream took to be acked).
            self._unacked_messages.discard(message)
            return False
        acked: bool = super().ack(message)
        return acked

    def _new_offset(self, tp: TP) -> int | None:
        if tp.topic in self.guarded:
            acked = self._acked[tp]
            gaps = self._gap[tp]
            starts = [iv.begin for iv in gaps.overlap(0, max(acked) + 1)] if acked else []
            committed = self._committed_offset[tp]
            if blocks_commit(committed, acked, starts):
                self._watch_hole(tp, cast(int, committed))
                return None
            self._holes.pop(tp, None)
        offset: int | None = super()._new_offset(tp)
        return offset

    def _watch_hole(self, tp: TP, offset: int) -> None:
        """A commit held at an offset no stream is handling: a message lost on its way to the
        router (a Faust path not guarded here). Nothing is committed past it, so a restart
        reads it again; said once, loudly, so an operator can restart the worker."""
        if any(m.tp == tp and m.offset == offset for m in self._unacked_messages):
            self._holes.pop(tp, None)
            return
        now = time.monotonic()
        since, said = self._holes.setdefault(tp, (now, False))
        if not said and now - since >= HOLE_REPORT_S:
            log.error(
                "offset %d of %s[%d] was never handed to the router; later offsets are "
                "routed but not committed past it. Restart the router worker to read it "
                "again.",
                offset,
                tp.topic,
                tp.partition,
            )
            self._holes[tp] = (since, True)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        if tp.topic not in self.guarded:
            await super()._add_gap(tp, offset_from, offset_to)
            return
        # Faust passes the offset of the message that revealed the gap as its end: that message
        # is routed and acked like any other.
        pending = [m.offset for m in self._unacked_messages if m.tp == tp]
        for first, last in gap_ranges(offset_from, offset_to - 1, pending):
            await super()._add_gap(tp, first, last)


class RouterTransport(driver.Transport):  # type: ignore[misc]
    Consumer = RouterConsumer


def install(app: faust.App, guarded: Iterable[str]) -> None:
    """Make `app` consume through a RouterConsumer guarding `guarded` topics."""
    consumer_class = type(
        "GuardedRouterConsumer", (RouterConsumer,), {"guarded": frozenset(guarded)}
    )
    transport_class = type(
        "GuardedRouterTransport", (RouterTransport,), {"Consumer": consumer_class}
    )
    app.transport = transport_class(app.conf.broker_consumer, app)
    app.flow_control = _ResumeKeepsQueues()
