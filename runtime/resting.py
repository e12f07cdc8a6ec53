"""Consumers that rest when idle, against a broker that answers empty fetches at once.

A Kafka broker holds an empty fetch for up to fetch.max.wait.ms and answers the moment a record
arrives: an idle consumer costs nothing and a new record is read at once. The embedded broker
(noida-db) answers an empty fetch immediately, so aiokafka's background fetcher, which sends the
next fetch as soon as the last one is answered, spins: thousands of fetches a second, most of a
core per idle process.

The fetcher below does the holding on the client side: after an empty answer that came back
sooner than fetch.max.wait.ms, the next fetch to that broker waits a time that grows with the
silence (a share of it) and never exceeds `HOLD_MAX_S`. A busy stream is never held (its
fetches are not empty); the first record after a quiet spell of `s` seconds is read at most
min(HOLD_SHARE * s, HOLD_MAX_S) later; a real broker, which holds empty fetches itself, is never
held twice. Installed for every aiokafka consumer of the process (`install`), so that every
consumer rests, those a library builds itself included.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer import consumer as aiokafka_consumer
from aiokafka.consumer.fetcher import Fetcher

# The first record after a long silence waits at most this long; an idle consumer fetches
# about 1 / HOLD_MAX_S times a second.
HOLD_MAX_S = 0.1
# Share of the silence so far that the next fetch waits: short gaps in a stream add next to
# nothing.
HOLD_SHARE = 0.25
# The ceiling for consumers whose records nobody waits on to the millisecond (what people
# search, issues judged on counts, bulk jobs starting): a fetch a second or two when idle.
BACKGROUND_HOLD_MAX_S = 1.0
SEARCH_HOLD_MAX_S = 0.5
# A fetch that leaves this many records waiting for the consumer (fetched and not yet read, or
# still on the broker) is a backlog: the next fetch goes at once. Fewer, and the next fetch
# waits a share of the gather for more to arrive: all of it after a fetch of one record.
GATHER_TARGET_RECORDS = 64
# How often aiokafka's fetch routine looks round when nothing tells it to (aiokafka's
# `consumer_timeout_ms`, 0.2 s by default). Everything that can start a fetch wakes it at once —
# a fetch answered or its rest ended, records read, a seek, a resume, a new assignment, metadata
# — so this is a safety net, not a latency: at 0.2 s each idle consumer's routine came round
# five times a second to find its one fetch still resting (a fifth of an idle deliverer's
# Python time, in `_get_actions_per_node` over every partition and `asyncio.wait`).
FETCHER_LOOK_ROUND_S = 2.0


def idle_hold(
    silence_s: float, answered_in_s: float, max_wait_s: float, hold_max_s: float = HOLD_MAX_S
) -> float:
    """Seconds to wait before the next fetch after an empty answer.

    `silence_s`: since the first of the empty answers in a row was asked for; `answered_in_s`:
    how long the broker took to answer this one; `max_wait_s`: the consumer's fetch.max.wait.ms;
    `hold_max_s`: the consumer's ceiling (HOLD_MAX_S unless it reads records that wait anyway).
    """
    ceiling = min(hold_max_s, max_wait_s) - answered_in_s
    return max(0.0, min(HOLD_SHARE * silence_s, ceiling))


def gather_wait(waiting: int, gather_max_s: float, target: int = GATHER_TARGET_RECORDS) -> float:
    """Seconds to wait before the next fetch after one that brought records.

    `waiting`: records the consumer has not read yet (fetched, or on the broker past what was
    fetched). A trickle waits up to `gather_max_s`, so the next fetch brings several records
    instead of one (a fetch, its decode, the broker's answer, a produce and a commit share
    them); a backlog (`target` or more waiting) does not wait at all. In a steady stream of r
    records a second this settles at batches of about r * gather_max_s / (1 + r *
    gather_max_s / target).
    """
    if waiting >= target or gather_max_s <= 0:
        return 0.0
    return gather_max_s * (1.0 - max(waiting, 0) / target)


def _release(hold: asyncio.Future[None]) -> None:
    if not hold.done():
        hold.set_result(None)


# An answer up to this size is kept to compare the next one with (an empty fetch's is ~40 bytes a
# partition): an answer carrying records is rarely asked twice, and may be megabytes.
SAME_ANSWER_MAX_BYTES = 64 * 1024


class SameAnswer:
    """A response type whose `decode` gives the last answer again when the bytes are the same:
    an idle consumer's broker answers its same question with the same empty answer, which
    aiokafka decodes through its generic schema walk every time (10 µs for one partition, 67 µs
    for 8, 300 µs for 40). Nothing downstream changes a decoded answer (aiokafka copies what it
    keeps, runtime.committed too)."""

    def __init__(self, response_type: Any) -> None:
        self.response_type = response_type
        self._last: tuple[bytes, Any] | None = None

    def decode(self, data: Any) -> Any:
        raw = data.read() if hasattr(data, "read") else bytes(data)
        if self._last is not None and self._last[0] == raw:
            return self._last[1]
        answer = self.response_type.decode(raw)
        self._last = (raw, answer) if len(raw) <= SAME_ANSWER_MAX_BYTES else None
        return answer


def asked_once(request: Any) -> Any:
    """`request` (an aiokafka Request) made to be sent again and again: its wire bytes worked
    out once per API version range (aiokafka encodes a request through its generic schema walk
    at every send: 18 µs for a fetch of one partition, 57 µs for 8, 270 µs for 40), and an
    answer the same as the last decoded once (`SameAnswer`)."""
    prepared: dict[object, Any] = {}
    plain = request.prepare

    def prepare(versions: dict[int, tuple[int, int]]) -> Any:
        key = versions.get(request.API_KEY)
        struct = prepared.get(key)
        if struct is None:
            struct = plain(versions)
            data = struct.encode()
            struct.encode = lambda: data
            struct.RESPONSE_TYPE = SameAnswer(struct.RESPONSE_TYPE)
            prepared[key] = struct
        return struct

    request.prepare = prepare
    return request


class RestingFetcher(Fetcher):  # type: ignore[misc]
    """aiokafka's fetcher, holding the next fetch to a broker after an early empty answer.

    It also asks each broker its last question again when nothing changed: an idle consumer's
    fetches carry the same partitions at the same offsets every time, so the request last sent
    to that broker is sent again, encoded once, and the same empty answer decoded once
    (`asked_once`): encoding and decoding were a quarter of an idle process's samples. A fetch
    whose positions moved is a new request.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["fetcher_timeout"] = max(kwargs.get("fetcher_timeout", 0.0), FETCHER_LOOK_ROUND_S)
        super().__init__(*args, **kwargs)
        # Per broker: loop time the first of the empty answers in a row was asked for.
        self._quiet_since: dict[int, float] = {}
        self.hold_max_s = HOLD_MAX_S
        self.gather_s = 0.0
        # The holds now resting (resolved by `wake` to end them) and when each would end.
        self.holding: dict[asyncio.Future[None], float] = {}
        # Per broker: the partitions and offsets last asked for, and that request.
        self._asked: dict[int, tuple[object, Any]] = {}

    def wake(self) -> None:
        """Someone waits for what the broker has now: end the holds resting, and start the
        silence over, so the next holds are short (a quarter of a silence just begun)."""
        self._quiet_since.clear()
        for hold in self.holding:
            _release(hold)

    def _get_actions_per_node(self, assignment: Any) -> Any:
        requests, *rest = super()._get_actions_per_node(assignment)
        return ([(node_id, self._same_as_last(node_id, r)) for node_id, r in requests], *rest)

    def _same_as_last(self, node_id: int, request: Any) -> Any:
        """The request last sent to this broker if it asked the same (the fetcher's other
        settings do not change), else `request`, asked once from now on."""
        # aiokafka shuffles the partitions of every fetch (so that none is always last to
        # fill a size-limited answer): that order is not part of the question. An answer
        # to the same question brought no records (else a position would have moved), so
        # asking in the last order again favours no partition.
        asked = sorted((topic, sorted(partitions)) for topic, partitions in request.topics)
        last = self._asked.get(node_id)
        if last is not None and last[0] == asked:
            return last[1]
        self._asked[node_id] = (asked, asked_once(request))
        return request

    def _wake_readers(self) -> None:
        """Wake the readers waiting for fetched records (what aiokafka's fetch routine does once
        a fetch task ends)."""
        for waiter in list(self._fetch_waiters):
            self._notify(waiter)

    async def _until_read(self, partitions: list[Any]) -> None:
        """Until the reader has taken every record fetched for `partitions` (aiokafka then
        resolves its consume future), or aiokafka's own wait for that has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._prefetch_backoff
        while any(tp in self._records for tp in partitions) and loop.time() < deadline:
            consumed = self._wait_consume_future
            if consumed is None or consumed.done():
                await asyncio.sleep(0.001)  # until aiokafka's routine sets up the next one
            else:
                await asyncio.wait([consumed], timeout=deadline - loop.time())

    async def _rest(self, seconds: float) -> None:
        """Sleep `seconds`, or less if woken."""
        loop = asyncio.get_running_loop()
        hold: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _release, hold)
        self.holding[hold] = loop.time() + seconds
        try:
            await hold
        finally:
            timer.cancel()
            del self.holding[hold]

    def _waiting(self, assignment: Any) -> int:
        """Records fetched and not read yet, or on the broker past them: the fetcher only
        fetches a partition whose last fetch was read, so for each partition holding fetched
        records the lag from the reader's position to the broker's end is both."""
        waiting = 0
        for tp in self._records:
            state = assignment.state_value(tp)  # None: not assigned any more
            if state is not None and state.highwater is not None and state.has_valid_position:
                waiting += max(0, state.highwater - state.position)
        return waiting

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        has_new_data: bool = await super()._proc_fetch_request(assignment, node_id, request)
        if has_new_data:
            self._quiet_since.pop(node_id, None)
            wait = gather_wait(self._waiting(assignment), self.gather_s)
            if wait > 0:
                # The records are read now: aiokafka wakes a reader waiting in getmany only when
                # this task ends, which would make them wait out the gather too. The gather
                # starts once the reader has taken them, as it did: fetches as far apart.
                fetched = list(self._records)
                self._wake_readers()
                # Records came: the next fetch waits a moment, so it brings what arrives
                # meanwhile in one answer instead of one record per fetch.
                try:
                    await self._until_read(fetched)
                    await asyncio.sleep(wait)
                except asyncio.CancelledError:
                    return True
            return True
        now = loop.time()
        since = self._quiet_since.setdefault(node_id, asked)
        hold = idle_hold(now - since, now - asked, self._fetch_max_wait_ms / 1000, self.hold_max_s)
        if hold > 0:
            # The broker stays "in flight" meanwhile, so the fetcher sends it nothing new. Seeks,
            # resumes and new assignments wait for the hold too: at most HOLD_MAX_S.
            try:
                await self._rest(hold)
            except asyncio.CancelledError:
                # As the fetch itself does: the fetcher cancels and awaits its tasks on close and
                # on a new assignment, and expects them to end quietly.
                return False
        return False


class RestingConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """A consumer whose idle fetches may rest longer than HOLD_MAX_S: for records that wait
    anyway (a retry tier's, held events), where a second more costs nothing and the fetches
    saved are most of an idle process's CPU. fetch.max.wait.ms is raised to match."""

    def __init__(
        self, *args: Any, idle_hold_max_s: float = HOLD_MAX_S, gather_s: float = 0.0, **kwargs: Any
    ) -> None:
        if idle_hold_max_s > HOLD_MAX_S:
            kwargs["fetch_max_wait_ms"] = max(
                kwargs.get("fetch_max_wait_ms", 500), int(idle_hold_max_s * 1000)
            )
        super().__init__(*args, **kwargs)
        self.idle_hold_max_s = idle_hold_max_s
        self.gather_s = gather_s

    async def start(self) -> None:
        await super().start()
        if isinstance(self._fetcher, RestingFetcher):
            self._fetcher.hold_max_s = self.idle_hold_max_s
            self._fetcher.gather_s = self.gather_s


def install() -> None:
    """Make every aiokafka consumer this process starts from now on rest when idle."""
    aiokafka_consumer.Fetcher = RestingFetcher
