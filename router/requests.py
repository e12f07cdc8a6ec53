"""Routing the requests topic: a consumer group member whose commit rule is ours.

    requests ──route──▶ events / ignored / router.dedupe (candidates of deduplicating connections)

At-least-once, without transactions: a request's offset is committed only after every record
routing it produced is acknowledged by the broker (acks=all; the produce futures are awaited
before its offset is finished, runtime.consuming), and only once every earlier request of its
partition is finished too (runtime.offsets). Ids are derived from (request, connection)
(router.routing), so a request routed twice — after a crash, or by two owners across a
rebalance — yields the same records, which downstream reads as one fact. A transactional
producer with `send_offsets_to_transaction` would make that exactly-once, but a producer holds
one transaction at a time: batches would be routed in series, each waiting a commit round trip,
and a transaction left open by a paused broker holds every read_committed reader (the
deliverer) behind it; duplicates with stable ids cost less than that.

No head-of-line blocking: a request that may wait — one of its connections runs a
transformation (a team's slot, then V8 on the thread pool), or it is a replay or its source has
no connection in the view yet (it waits for the config view to catch up) — is routed in a task
of its own; any other request never waits and is routed at once in the loop, its batch's
produce futures awaited together in one task. A
failure to produce (the broker away) is retried, re-routing the request; anything else is a bug:
the worker stops (`crash`) and its restart routes the request again from the last commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from router.connections import Connection, ConnectionView
from router.emitting import Emitter, Stored
from router.metrics import RouterMetrics
from router.routing import Transform, connections_for, route, transforms
from runtime.consuming import Finish, GroupConsumer, store_outputs
from runtime.kafka import ConfigFollower
from runtime.settings import Settings
from schemas.codec import decode
from schemas.errors import SchemaError

log = logging.getLogger(__name__)

# Requests a worker has in flight (routed or being routed, outputs not yet stored). Past it the
# worker stops reading until some are done; one fetch brings at most this many.
MAX_IN_FLIGHT = 512


def group_name(settings: Settings) -> str:
    """The requests' consumer group (what an autoscaler watches the lag of)."""
    return f"{settings.topic_namespace}-router"


# One routing job: (offset, request, its connections).
Job = tuple[int, dict[str, Any], list[Connection]]


class RequestConsumer(GroupConsumer):
    def __init__(
        self,
        settings: Settings,
        view: ConnectionView,
        follower: ConfigFollower,
        emitter: Emitter,
        transform: Transform,
        metrics: RouterMetrics,
        crash: Callable[[], None],
    ) -> None:
        super().__init__(
            settings,
            [settings.topics.requests],
            group_name(settings),
            MAX_IN_FLIGHT,
            member=settings.member_name("router"),
            leave_on_stop=settings.worker_count("router") > 1,
        )
        self.view = view
        self.follower = follower
        self.emitter = emitter
        self.transform = transform
        self.metrics = metrics
        self.crash = crash

    def read(self, value: bytes) -> dict[str, Any] | None:
        """The request to route, or None: unreadable (skipped, counted) or not accepted."""
        try:
            request = decode(value, "RequestReceived")
        except SchemaError:
            self.metrics.unreadable.inc()
            log.exception("unreadable request record skipped")
            return None
        self.metrics.count(self.metrics.requests, request["status"])
        return request if request["status"] == "accepted" else None

    async def dispatch(
        self, tp: TopicPartition, messages: list[ConsumerRecord], finish: Finish
    ) -> None:
        inline: list[Job] = []
        stored: list[Stored] = []
        for message in messages:
            request = self.read(message.value)
            if request is None:
                finish(message.offset)
                continue
            connections = connections_for(request, self.view.for_source(request["source_id"]))
            job: Job = (message.offset, request, connections)
            if self._needs_sync(request, connections) or any(map(transforms, connections)):
                self.spawn(self._settle([job], None, finish))
                continue
            try:
                stored += await self._route(request, connections)
            except Exception:
                # Whatever it was, the request's own task retries it or stops the worker.
                self.spawn(self._settle([job], None, finish))
                continue
            inline.append(job)
        if inline:
            self.spawn(self._settle(inline, stored, finish))

    def _needs_sync(self, request: dict[str, Any], connections: list[Connection]) -> bool:
        """A replay usually follows a rule change made a moment ago; a request of a source with
        no connection in the view may follow a connection created a moment ago (the API's
        write reaches this view a little later than the request): either is routed on a view
        that holds every config change made before it was received."""
        if request.get("replay_of"):
            return True
        return not connections and request["received_at"] > self.follower.synced_ms

    async def _route(self, request: dict[str, Any], connections: list[Connection]) -> list[Stored]:
        if self._needs_sync(request, connections):
            # A replay's own time may be its original's: it waits for a sync begun from now.
            since_ms = int(time.time() * 1000) if request.get("replay_of") else None
            await self.follower.sync_since(
                since_ms if since_ms is not None else request["received_at"]
            )
            connections = connections_for(request, self.view.for_source(request["source_id"]))
        # Times come from the request, not the clock: a request routed again after a crash
        # yields the very same records, which projections then read as one fact.
        stored = []
        for connection in connections:
            outcome = await route(
                request,
                connection,
                self.view.destination_enabled(connection.destination_id),
                self.transform,
                request["received_at"],
            )
            stored.append(await self.emitter.emit(outcome))
        return stored

    async def _settle(self, jobs: list[Job], stored: list[Stored] | None, finish: Finish) -> None:
        """Finish `jobs` once their outputs are stored; route them (again) until they are.
        `stored`: the produce futures of jobs already routed (None: route them first)."""

        async def route_all() -> list[Stored]:
            out: list[Stored] = []
            for _, request, connections in jobs:
                out += await self._route(request, connections)
            return out

        try:
            await store_outputs(route_all, stored)
        except Exception:
            log.exception(
                "routing a request failed; stopping the worker to route it again",
                extra={"request_ids": [request["request_id"] for _, request, _ in jobs]},
            )
            self.crash()
            return  # never finished: its offset is not committed past
        for offset, _, _ in jobs:
            finish(offset)
