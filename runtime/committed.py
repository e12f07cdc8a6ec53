"""Reading committed records when the broker reports aborted transactions past their end.

A read_committed fetch answer lists the aborted transactions that may hold records of the
fetched range: (producer id, first offset). The reader skips a producer's transactional
records from that first offset until the producer's ABORT marker. Kafka lists only the
transactions whose ABORT marker is at or past the fetch offset. The embedded broker (noida-db
0.2) lists every aborted transaction of the partition, ended or not; so a reader fetching from
past an ABORT marker (a consumer resuming from its committed offset, or any fetch after the one
that read the marker) starts skipping that producer again and never meets a marker to stop:
every later record of the producer is lost to it. The producer is the same after an abort, and
after another process takes its transactional id (a bulk job claimed by another replica, the
issues job restarted): each keeps the producer id, with a new epoch.

`open_at` decides, from the answer itself, which listed transactions may still be open at the
fetch offset. A producer has one transaction at a time, so its first marker at or past the
fetch offset ends the transaction its records there belong to: an ABORT marker means a listed
transaction is open (its records are skipped, as Kafka's own list would have them), a COMMIT
marker means every listed one ended before. When the answer holds records of the producer but
not their marker (an answer cut by its size), the records before them are read and the next
fetch starts at them; if they are the answer's first, the listed transaction is taken as open
(what Kafka's list says). With a Kafka broker the list holds only transactions still open,
each followed by its ABORT marker, so nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.record.control_record import ABORT_MARKER, ControlRecord

# (producer id, first offset), as a fetch answer lists an aborted transaction
Aborted = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Batch:
    """What deciding needs of a record batch in a fetch answer."""

    base_offset: int
    producer_id: int | None
    transactional: bool
    marker: bool | None = None  # a control batch: True for ABORT, False for COMMIT


def open_at(
    aborted: Iterable[Aborted], fetch_offset: int, batches: Sequence[Batch]
) -> tuple[list[Aborted], int | None]:
    """The listed aborted transactions the reader must still skip, and the offset to stop
    reading this answer at (None: read it all) when a producer's records there cannot be
    decided yet."""
    kept: list[Aborted] = []
    cut: int | None = None
    undecided: dict[int, bool] = {}  # producer id → still open at the fetch offset
    for producer_id, first_offset in aborted:
        if first_offset >= fetch_offset:
            kept.append((producer_id, first_offset))  # its records are in the answer
            continue
        if producer_id not in undecided:
            is_open, stop = _still_open(producer_id, batches)
            undecided[producer_id] = is_open
            if stop is not None:
                cut = stop if cut is None else min(cut, stop)
        if undecided[producer_id]:
            kept.append((producer_id, first_offset))
    return kept, cut


def _still_open(producer_id: int, batches: Sequence[Batch]) -> tuple[bool, int | None]:
    first_record: int | None = None
    for batch in batches:
        if batch.producer_id != producer_id:
            continue
        if batch.marker is not None:
            return batch.marker, None
        if batch.transactional and first_record is None:
            first_record = batch.base_offset
    if first_record is None:
        return False, None  # nothing of the producer here: the entry skips nothing
    if first_record == batches[0].base_offset:
        return True, None  # nothing to read before it: as the broker's list says
    return False, first_record


class _Batches:
    """The answer's batches, read once into a list, offered as aiokafka's MemoryRecords."""

    def __init__(self, batches: list[Any]) -> None:
        self._batches = iter(batches)
        self._next = next(self._batches, None)

    def has_next(self) -> bool:
        return self._next is not None

    def next_batch(self) -> Any:
        batch, self._next = self._next, next(self._batches, None)
        return batch


class CommittedRecords(fetcher.PartitionRecords):  # type: ignore[misc]
    """aiokafka's records of one partition's fetch answer, skipping only the aborted
    transactions still open at the fetch offset (`open_at`)."""

    def __init__(
        self, tp: Any, records: Any, aborted_transactions: Any, fetch_offset: int, *rest: Any
    ) -> None:
        self.next_fetch_offset: int = fetch_offset
        self._cut: int | None = None
        self._markers: dict[int, bool] = {}
        if aborted_transactions and any(a[1] < fetch_offset for a in aborted_transactions):
            raw = []
            while records.has_next():
                raw.append(records.next_batch())
            batches = [self._summary(batch) for batch in raw]
            aborted_transactions, self._cut = open_at(
                [tuple(a) for a in aborted_transactions], fetch_offset, batches
            )
            records = _Batches(raw)
        super().__init__(tp, records, aborted_transactions, fetch_offset, *rest)

    def _summary(self, batch: Any) -> Batch:
        marker = None
        if batch.is_control_batch:
            # Read here once: the batch's records can be iterated only once.
            marker = ControlRecord.parse(next(batch).key) == ABORT_MARKER
            self._markers[batch.base_offset] = marker
        return Batch(batch.base_offset, batch.producer_id, batch.is_transactional, marker)

    def _contains_abort_marker(self, next_batch: Any) -> bool:
        marker = self._markers.get(next_batch.base_offset)
        if marker is None:
            return bool(super()._contains_abort_marker(next_batch))
        return marker

    def _unpack_records(self) -> Iterator[Any]:
        cut = self._cut
        for record in super()._unpack_records():
            if cut is not None and record.offset >= cut:
                break
            yield record
        if cut is not None:
            # The next fetch starts at the undecided records: it may bring their marker.
            reached: int = self.next_fetch_offset
            self.next_fetch_offset = min(reached, cut)


def install() -> None:
    """Every aiokafka consumer of this process reads fetch answers through CommittedRecords."""
    fetcher.PartitionRecords = CommittedRecords
