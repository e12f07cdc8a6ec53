"""SIGKILL the deliverer while its attempt records are in flight in batches (a window of them
per partition, runtime.batching): nothing acknowledged is lost, nothing reordered.

- acknowledged: every events record whose offset the deliverer had committed when it died has
  its attempt stored (or, parked, its hand-off to a retry tier): offsets never pass a record
  whose attempt was still in an unsent or unacknowledged batch;
- reordered: within each attempts partition the records' create times never go back (each
  is stamped when it joins its window's batch, so a later window stored ahead of an earlier
  one would show), and each event's attempt numbers first appear in order (attempt 2 never
  before a copy of attempt 1);
- after the restart every event has its attempts recorded and ends SUCCESSFUL (a copy of an
  attempt is allowed, at least once; a loss is not).
"""

from __future__ import annotations

import signal
from collections import defaultdict
from typing import Any

from fasthook.embedded import free_port
from schemas.codec import decode
from schemas.topics import RETRY_TIERS_MS
from tests.support.deliverer import attempts_for, declare_pipe, make_event, publish_events
from tests.support.kafka import committed_offsets, read_topic
from tests.support.poll import eventually
from tests.support.processes import ServiceProcess
from tests.support.receiver import Received, Receiver

TOTAL = 1500
LINGER_MS = 1500.0
# Every other event's first call fails: two attempts, the second after the retry tier's wait.
# The others end at their first attempt, whose record is then all that its offset waits for.
RETRY = {"type": "retry", "strategy": "linear", "count": 3, "interval": 500}


def first_call_fails(flaky: set[str]) -> Any:
    seen: set[str] = set()

    def answer(_: int, got: Received) -> tuple[int, dict[str, str]]:
        event_id = got.header("x-fasthook-event-id") or ""
        if event_id not in flaky or event_id in seen:
            return 204, {}
        seen.add(event_id)
        return 500, {}

    return answer


async def stored_at_kill(bootstrap: str, settings: Any) -> tuple[set[tuple[str, int]], int]:
    """What the dead deliverer had stored: (event id, attempt number) of each attempt or
    parked hand-off, and how many attempts."""
    attempts = await read_topic(bootstrap, settings.topics.attempts)
    parked = [
        event
        for tier in RETRY_TIERS_MS
        for event in await read_topic(bootstrap, settings.topics.retry(tier))
    ]
    done = {(a["event_id"], a["attempt_number"]) for a in attempts}
    return done | {(e["event_id"], e["attempt_number"]) for e in parked}, len(attempts)


async def test_sigkill_with_attempt_batches_in_flight(settings, producer, bootstrap, tmp_path):
    # Attempt records gathered for 1.5 s (the deliverer's producer linger): longer than the
    # 0.5 s between commits, so a commit that did not wait for its attempts would pass some.
    settings = settings.with_(deliverer_port=free_port(), produce_linger_ms=LINGER_MS)
    flaky: set[str] = set()
    receiver = await Receiver(answer=first_call_fails(flaky)).start()
    process = ServiceProcess("deliverer", settings, tmp_path / "deliverer.log")
    ready = f"http://127.0.0.1:{settings.deliverer_port}/readyz"
    process.start()
    try:
        await process.wait_ready(ready, 60)
        pipe = await declare_pipe(producer, settings, receiver.url, [RETRY])
        events = [make_event(pipe, f"MessageSid=SM{i:032d}".encode()) for i in range(TOTAL)]
        flaky.update(e["event_id"] for e in events[::2])
        await publish_events(producer, settings, events)
        await receiver.wait_for(TOTAL // 4, timeout_s=90)
        # Killed mid-run once some offsets are committed (every 0.5 s), so that the check
        # below has something to check.
        group = f"{settings.topic_namespace}-deliverer"

        async def some_committed() -> dict[int, int]:
            offsets = await committed_offsets(bootstrap, group, settings.topics.events)
            return offsets if sum(offsets.values()) > 0 else {}

        await eventually(some_committed, 60, "a first commit of the deliverer", 0.05)
        process.signal(signal.SIGKILL)
        await process.wait_exit(10)

        # Nothing committed past an attempt that was not stored.
        committed = await committed_offsets(bootstrap, group, settings.topics.events)
        stored, attempts_then = await stored_at_kill(bootstrap, settings)
        passed = [
            decode(record.value)
            for record in await read_topic(bootstrap, settings.topics.events, raw=True)
            if record.offset < committed.get(record.partition, 0)
        ]
        assert passed, "the deliverer died before committing anything: nothing was tested"
        lost = [(e["event_id"], e["attempt_number"]) for e in passed]
        lost = [key for key in lost if key not in stored]
        assert not lost, f"{len(lost)} committed past without their attempt stored: {lost[:5]}"
        assert attempts_then < TOTAL + len(flaky), "every attempt was made before the kill"

        process.start()
        await process.wait_ready(ready, 60)
        ids = [e["event_id"] for e in events]
        found = await attempts_for(bootstrap, settings, ids, TOTAL, timeout_s=180)
        assert all(
            any(a["event_status"] == "SUCCESSFUL" for a in attempts) for attempts in found.values()
        )
        assert len(found) == TOTAL

        # Nothing reordered within a partition.
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for record in await read_topic(bootstrap, settings.topics.attempts, raw=True):
            by_partition[record.partition].append(record)
        numbers: dict[str, list[int]] = defaultdict(list)
        homes: dict[str, set[int]] = defaultdict(set)
        for partition, records in by_partition.items():
            records.sort(key=lambda r: r.offset)
            stamps = [r.timestamp for r in records]
            assert stamps == sorted(stamps), f"attempts partition {partition} out of order"
            for record in records:
                attempt = decode(record.value)
                homes[attempt["event_id"]].add(partition)
                if attempt["attempt_number"] not in numbers[attempt["event_id"]]:
                    numbers[attempt["event_id"]].append(attempt["attempt_number"])
        assert all(len(home) == 1 for home in homes.values())
        # [1] alone when attempt 1 was made again after the restart and found the receiver
        # answering (its retry, scheduled before the kill, may still be due).
        out_of_order = {
            e: numbers[e] for e in ids if numbers[e] not in ([1], [1, 2] if e in flaky else [1])
        }
        assert not out_of_order, out_of_order
    finally:
        process.kill()
        await receiver.stop()
