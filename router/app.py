"""The router: a Faust app from requests to events.

    requests ──route (a task per request)──▶ events / ignored
             └──────▶ router.dedupe (keyed by dedupe key) ──dedupe──▶ events / ignored

At-least-once: Faust flushes everything an agent produced before it commits the offset, and
ids are derived from (request, connection), so a request routed twice after a crash yields
the same event ids. Several workers share the partitions (one consumer group per namespace).
Faust's consumer is the guarded one of router.consumer: nothing is committed past a request
or dedupe candidate the router did not finish, whatever a rebalance does to Faust's bookkeeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import faust
from mode import Service
from mode.supervisors import CrashingSupervisor
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router import consumer as router_consumer
from router.acks import InOrderAcks
from router.connections import Connection, ConnectionView
from router.fairness import TeamSlots, team_share
from router.metrics import RouterMetrics
from router.routing import Ignored, Routed, connections_for, route, transforms
from router.transform import Sandboxes
from runtime.kafka import ConfigFollower
from runtime.settings import Settings
from schemas.codec import decode, encode
from schemas.errors import SchemaError
from schemas.limits import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

WINDOW_HEADER = "fasthook-dedupe-window-ms"
# Requests a worker routes at once. One team's transformations take at most team_share() of the
# router_concurrency transformation slots; the others' requests are routed beside them. Past this
# many requests in flight the worker stops reading until one is done.
MAX_IN_FLIGHT = 256
DEDUPE_CLEANUP_S = 30.0


class ConfigService(Service):
    """Keeps the connection view following the config topic for the worker's lifetime."""

    def __init__(self, settings: Settings, view: ConnectionView, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.follower = ConfigFollower(settings.kafka_bootstrap, settings.topics.config, view.apply)

    async def on_start(self) -> None:
        await self.follower.start()

    async def on_stop(self) -> None:
        await self.follower.stop()


def create_app(settings: Settings) -> faust.App:
    topics = settings.topics
    app = faust.App(
        f"{settings.topic_namespace}-router",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger=settings.produce_linger_ms / 1000,
        topic_replication_factor=settings.topic_replication,
        topic_partitions=8,
        web_host=settings.router_host,
        web_bind=settings.router_host,
        web_port=settings.router_port,
        datadir=f"{settings.data_dir}/router",
        broker_commit_every=500,
        broker_commit_interval=1.0,
        # A worker that died is noticed after this long and its partitions handed on: short,
        # so a crash delays routing by seconds, not Kafka's default of most of a minute.
        broker_session_timeout=10.0,
        consumer_group_instance_id=settings.member_name("router"),
        broker_heartbeat_interval=2.0,
        # Faust's defaults (1 MB) are below the bodies a source accepts: every record, up to the
        # contract's limit, must be routed (schemas.limits).
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
    )
    # Faust's own offset bookkeeping can commit past a request never routed (router.consumer).
    router_consumer.install(app, [topics.requests, topics.router_dedupe])
    view = ConnectionView()
    metrics = RouterMetrics()
    sandboxes = Sandboxes()
    config = ConfigService(settings, view)
    app.service(config)  # type: ignore[arg-type]

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(name, key_serializer="raw", value_serializer="raw")

    requests_topic, events_topic = raw_topic(topics.requests), raw_topic(topics.events)
    ignored_topic, dedupe_topic = raw_topic(topics.ignored), raw_topic(topics.router_dedupe)
    # dedupe key → {"at": first seen ms, "event_id": the event it let through, "window": ms}
    seen = app.Table(
        "dedupe-seen",
        default=None,
        partitions=8,
        schema=faust.Schema(key_serializer="raw", value_serializer="json"),
    )

    slots = TeamSlots(team_share(settings.router_concurrency))
    # V8 runs off the loop on threads of its own: the worker's transformation slots. Never more
    # than the isolates the memory budget holds, so an idle isolate can always be evicted.
    transformations = ThreadPoolExecutor(
        min(settings.router_concurrency, sandboxes.max_isolates),
        thread_name_prefix="transformation",
    )
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def transform(
        team_id: str,
        code: str,
        env: dict[str, str],
        request: dict[str, Any],
        context: dict[str, Any],
    ) -> dict[str, Any]:
        async with slots.slot(team_id):
            started = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    transformations, sandboxes.run, team_id, code, env, request, context
                )
            finally:
                metrics.transform_seconds.observe(time.perf_counter() - started)

    async def send(
        topic: faust.TopicT, key: str, value: bytes, headers: dict[str, bytes] | None = None
    ) -> None:
        # Straight to the app's producer, past Faust's channel layer (a future message, sensor
        # calls and a callback per record): the same producer, which Faust flushes before each
        # commit, so a request's offset is still committed only after its records are stored.
        await app.producer.send(topic.get_topic_name(), key.encode(), value, None, None, headers)

    async def emit(outcome: Routed | Ignored) -> None:
        if isinstance(outcome, Ignored):
            metrics.count(metrics.outcomes, outcome.record["cause"])
            await send(
                ignored_topic, outcome.record["request_id"], encode("EventIgnored", outcome.record)
            )
        elif outcome.dedupe is not None:
            key, window_ms = outcome.dedupe
            await send(
                dedupe_topic,
                key,
                encode("EventCreated", outcome.event),
                {WINDOW_HEADER: str(window_ms).encode()},
            )
        else:
            metrics.count(metrics.outcomes, "EVENT")
            await send(
                events_topic, outcome.event["event_id"], encode("EventCreated", outcome.event)
            )

    def read(value: bytes) -> dict[str, Any] | None:
        """The request to route, or None: unreadable (skipped, counted) or not accepted."""
        try:
            request = decode(value, "RequestReceived")
        except SchemaError:
            metrics.unreadable.inc()
            log.exception("unreadable request record skipped")
            return None
        metrics.count(metrics.requests, request["status"])
        return request if request["status"] == "accepted" else None

    async def route_request(request: dict[str, Any], connections: list[Connection]) -> None:
        if request.get("replay_of"):
            # A replay usually follows a rule change made a moment ago: route it on a view
            # that holds every config change made before it.
            await config.follower.sync()
            connections = connections_for(request, view.for_source(request["source_id"]))
        # Times come from the request, not the clock: a request routed again after a crash
        # yields the very same records, which projections then read as one fact.
        for connection in connections:
            await emit(
                await route(
                    request,
                    connection,
                    view.destination_enabled(connection.destination_id),
                    transform,
                    request["received_at"],
                )
            )

    async def route_and_ack(
        request: dict[str, Any],
        connections: list[Connection],
        event: faust.EventT,
        acks: InOrderAcks[faust.EventT],
        slot: Any,
    ) -> None:
        try:
            await route_request(request, connections)
            acks.finished(event.message.tp, slot)  # its offset, once those before it are done
        finally:
            in_flight.release()

    # A request that may wait (a transformation's slot and run, a replay's config sync) is
    # routed in a task of its own, so a team waiting for its transformation slots waits beside
    # other teams' requests, not in front of them. Any other request never waits: it is routed
    # at once in the loop, without a task. Acks reach Faust in offset order per partition
    # (router.acks: Faust would commit past a request still being routed). An unexpected error
    # in any task stops the worker (to be restarted from the last commit) rather than skipping
    # the request.
    @app.agent(requests_topic, supervisor_strategy=CrashingSupervisor)
    async def route_requests(stream: faust.StreamT) -> None:
        await config.follower.caught_up.wait()  # never route on a partial view
        for topic in (events_topic, ignored_topic, dedupe_topic):
            await topic.maybe_declare()  # send() goes past the layer that would declare them
        consumer = cast(router_consumer.RouterConsumer, app.consumer)
        acks: InOrderAcks[faust.EventT] = InOrderAcks(consumer.finished)
        async with asyncio.TaskGroup() as routing:
            async for event in stream.noack().events():
                tp = event.message.tp
                request = read(event.value)
                if request is None:
                    acks.finished(tp, acks.taken(tp, event))
                    continue
                connections = connections_for(request, view.for_source(request["source_id"]))
                if request.get("replay_of") or any(map(transforms, connections)):
                    await in_flight.acquire()
                    slot = acks.taken(tp, event)
                    routing.create_task(route_and_ack(request, connections, event, acks, slot))
                else:
                    slot = acks.taken(tp, event)
                    await route_request(request, connections)
                    acks.finished(tp, slot)

    @app.agent(dedupe_topic, supervisor_strategy=CrashingSupervisor)
    async def deduplicate(stream: faust.StreamT) -> None:
        consumer = cast(router_consumer.RouterConsumer, app.consumer)
        async for event in stream.noack().events():
            candidate = decode(event.value, "EventCreated")
            key = event.key
            window_ms = int(dict(event.headers or {}).get(WINDOW_HEADER, b"0"))
            first = seen.get(key)
            # The request's time, not the clock: the window is between the provider's calls,
            # and a candidate deduplicated again after a crash yields the same records.
            at_ms = candidate["created_at"]
            fresh = first is None or at_ms - first["at"] >= first["window"]
            if fresh or first["event_id"] == candidate["event_id"]:
                # The same event again is a re-processing after a crash: let it through again.
                if fresh:
                    seen[key] = {
                        "at": at_ms,
                        "event_id": candidate["event_id"],
                        "window": window_ms,
                    }
                await emit(Routed(candidate))
            else:
                await emit(
                    Ignored(
                        {
                            "ignored_id": candidate["event_id"].replace("evt_", "ign_", 1),
                            "request_id": candidate["request_id"],
                            "team_id": candidate["team_id"],
                            "source_id": candidate["source_id"],
                            "connection_id": candidate["connection_id"],
                            "cause": "DUPLICATE",
                            "detail": f"same as event {first['event_id']}"
                            f" within {first['window']} ms",
                            "created_at": at_ms,
                        }
                    )
                )
            consumer.finished(event)

    @app.timer(DEDUPE_CLEANUP_S)
    async def forget_expired() -> None:
        now_ms = int(time.time() * 1000)
        for key, first in list(seen.items()):
            if first is not None and now_ms - first["at"] >= first["window"]:
                del seen[key]

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        checks = {
            "config_view_loaded": config.follower.healthy,
            "partitions_assigned": not app.rebalancing
            and app.consumer is not None
            and bool(app.consumer.assignment()),
        }
        ready = all(checks.values())
        return web.json(
            {
                "status": "ready" if ready else "not ready",
                "checks": checks,
                "config_records_applied": config.follower.applied,
            },
            status=200 if ready else 503,
        )

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        response = web.bytes(generate_latest(metrics.registry))
        # Set as a header: Faust's helper refuses a charset in its content_type argument.
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return app
