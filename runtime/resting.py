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


class RestingFetcher(Fetcher):  # type: ignore[misc]
    """aiokafka's fetcher, holding the next fetch to a broker after an early empty answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per broker: loop time the first of the empty answers in a row was asked for.
        self._quiet_since: dict[int, float] = {}
        self.hold_max_s = HOLD_MAX_S
        self.gather_s = 0.0

    async def _proc_fetch_request(self, assignment: Any, node_id: int, request: Any) -> bool:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        has_new_data: bool = await super()._proc_fetch_request(assignment, node_id, request)
        if has_new_data:
            self._quiet_since.pop(node_id, None)
            if self.gather_s > 0:
                # Records came: the next fetch waits a moment, so it brings what arrives
                # meanwhile in one answer instead of one record per fetch.
                try:
                    await asyncio.sleep(self.gather_s)
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
                await asyncio.sleep(hold)
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
