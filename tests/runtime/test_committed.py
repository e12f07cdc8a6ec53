"""read_committed past aborted transactions (runtime.committed): pure decisions, and aiokafka's
own record unpacking fed real record batches built here."""

from __future__ import annotations

import struct

from aiokafka.consumer.fetcher import READ_COMMITTED
from aiokafka.record._crc32c import crc as crc32c
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.committed import Batch, CommittedRecords, open_at

TP = TopicPartition("t", 0)
ABORT, COMMIT = 0, 1
CONTROL = 0x20  # the batch attribute of a marker


def data(offset: int, pid: int) -> Batch:
    return Batch(offset, pid, True)


def marker(offset: int, pid: int, abort: bool) -> Batch:
    return Batch(offset, pid, True, abort)


def test_a_transaction_aborted_before_the_fetch_offset_skips_nothing():
    # pid 7 aborted at 2..3, then committed 4 (its marker 5): the broker still lists (7, 2).
    kept, cut = open_at([(7, 2)], 4, [data(4, 7), marker(5, 7, False)])
    assert (kept, cut) == ([], None)


def test_a_transaction_still_open_at_the_fetch_offset_is_kept():
    kept, cut = open_at([(7, 2)], 4, [data(4, 7), marker(5, 7, True)])
    assert (kept, cut) == ([(7, 2)], None)


def test_records_without_their_marker_stop_the_answer_before_them():
    kept, cut = open_at([(7, 2)], 4, [data(4, 8), data(5, 7)])
    assert (kept, cut) == ([], 5)
    # First in the answer: nothing to read before them; the list is believed.
    assert open_at([(7, 2)], 5, [data(5, 7)]) == ([(7, 2)], None)


def test_transactions_at_or_past_the_fetch_offset_are_left_to_aiokafka():
    assert open_at([(7, 4), (8, 1)], 4, [data(4, 7), marker(5, 7, True)]) == ([(7, 4)], None)


# --- aiokafka's unpacking over real batches ------------------------------------------------


def _batch(offset: int, pid: int, key: bytes, transactional: bool, control: bool) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, int(transactional), pid, 0, -1, 1 << 20)
    builder.append(0, 0, key, b"" if control else key, [])
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, offset)
    if control:
        # Kafka's batch header: the CRC at byte 17 covers everything from the attributes (21).
        struct.pack_into(">h", raw, 21, struct.unpack_from(">h", raw, 21)[0] | CONTROL)
        struct.pack_into(">I", raw, 17, crc32c(raw[21:]))
    return bytes(raw)


# A step of the log: (producer id, "record" | "commit" | "abort")
steps = st.lists(
    st.tuples(st.sampled_from([1, 2]), st.sampled_from(["record", "record", "commit", "abort"])),
    max_size=30,
)


def _log(plan: list[tuple[int, str]]) -> tuple[list, list, list, int]:
    """The partition as the broker holds it — (offset, pid, key, is control) — the aborted
    transactions (pid, first offset) as the embedded broker lists them (all of them), the
    committed records' keys, and the most batches a transaction spans (records to marker)."""
    log: list[tuple[int, int, bytes, bool]] = []
    open_txn: dict[int, list[int]] = {}
    aborted: list[tuple[int, int]] = []
    committed: list[bytes] = []
    span = 1
    for pid, action in [*plan, (1, "commit"), (2, "abort")]:
        offset = len(log)
        if action == "record":
            key = f"{pid}-{offset}".encode()
            open_txn.setdefault(pid, []).append(offset)
            log.append((offset, pid, key, False))
        elif pid in open_txn:
            records = open_txn.pop(pid)
            kind = ABORT if action == "abort" else COMMIT
            log.append((offset, pid, struct.pack(">hh", 0, kind), True))
            span = max(span, offset - records[0] + 1)
            if kind == ABORT:
                aborted.append((pid, records[0]))
            else:
                committed += [f"{pid}-{o}".encode() for o in records]
    return log, aborted, committed, span


def _read(log, aborted, start: int, answer_size: int) -> list[bytes]:
    """Fetch after fetch from `start`, each answer holding at most `answer_size` batches."""
    position, seen = start, []
    while position < len(log):
        answer = b"".join(
            _batch(o, pid, key, True, control)
            for o, pid, key, control in log[position : position + answer_size]
        )
        records = CommittedRecords(
            TP, MemoryRecords(answer), list(aborted), position, None, None, True, READ_COMMITTED
        )
        seen += [record.key for record in records]
        assert records.next_fetch_offset > position, "the next fetch would ask the same again"
        position = records.next_fetch_offset
    return seen


@settings(max_examples=300, deadline=None)
@given(plan=steps, start_at=st.floats(0, 1), size=st.integers(1, 40))
def test_committed_records_past_the_start_are_read_once_in_order(plan, start_at, size):
    log, aborted, committed, span = _log(plan)
    start = int(start_at * len(log))
    at = {k: int(k.split(b"-")[1]) for k in committed}
    expected = sorted((k for k in committed if at[k] >= start), key=at.__getitem__)
    read = _read(log, aborted, start, size)
    # Never an aborted record, never one twice or out of order, whatever the answers' size.
    assert read == [k for k in expected if k in read]
    if size >= span:
        # Answers that hold a transaction's records with its marker: every committed record.
        assert read == expected
