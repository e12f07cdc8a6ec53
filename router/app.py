"""The router app factory: config view, producer, the two consumers, and probes.

    requests ──route──▶ events / ignored
             └───────▶ router.dedupe (keyed by dedupe key) ──deduplicate──▶ events / ignored

The aiohttp app only serves /healthz, /readyz and /metrics; the work runs in consumers started
and stopped by its cleanup context (router.requests, router.deduplicating), so a graceful stop
lets in-flight routing finish and commits it. Several workers share the partitions (one
consumer group per namespace for requests, one for dedupe candidates).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from aiohttp import web

from router.coalescing import Batches, Item
from router.connections import ConnectionView
from router.deduplicating import DedupeConsumer
from router.emitting import Emitter
from router.fairness import TeamSlots, team_share
from router.keys import DEDUPE, KAFKA, METRICS, REQUESTS, SETTINGS, VIEW
from router.metrics import RouterMetrics
from router.requests import RequestConsumer
from router.routing import Transform
from router.transform import Outcome, Sandboxes
from runtime.kafka import ServiceKafka, not_started, service_kafka
from runtime.probes import probe_routes
from runtime.settings import Settings


def crash() -> None:
    """Stop the worker gracefully (a bug met while routing): what is finished is committed, the
    request that failed is not, and the restart routes it again."""
    os.kill(os.getpid(), signal.SIGTERM)


@asynccontextmanager
async def transformations(settings: Settings, metrics: RouterMetrics) -> AsyncIterator[Transform]:
    """The worker's transformations: requests waiting for one (team, code, env) go to V8 as one
    batch (router.coalescing); one team's batches take at most team_share() of
    router_concurrency; V8 runs off the loop on threads of its own, never more than the
    isolates the memory budget holds, so an idle isolate can always be evicted."""
    sandboxes = Sandboxes()
    slots = TeamSlots(team_share(settings.router_concurrency))
    pool = ThreadPoolExecutor(
        min(settings.router_concurrency, sandboxes.max_isolates),
        thread_name_prefix="transformation",
    )

    async def run(team_id: str, code: str, env: dict[str, str], items: list[Item]) -> list[Outcome]:
        async with slots.slot(team_id):
            started = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    pool, sandboxes.run_batch, team_id, code, env, items
                )
            finally:
                metrics.transform_seconds.observe(time.perf_counter() - started)
                metrics.transform_batch.observe(len(items))

    try:
        yield Batches(run).transform
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        # Each isolate closed once its running call ends (within the time limit), on a thread:
        # the loop goes on meanwhile.
        await asyncio.to_thread(sandboxes.close)


async def pipeline_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with service_kafka(
        settings.kafka_bootstrap,
        settings.topics.config,
        app[VIEW].apply,
        {"linger_ms": settings.produce_linger_ms},
    ) as kafka:
        app[KAFKA] = kafka
        await kafka.follower.wait_caught_up(60)  # never route on a partial view
        async with routing(app, kafka):
            yield


@asynccontextmanager
async def routing(app: web.Application, kafka: ServiceKafka) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    metrics = app[METRICS]
    emitter = Emitter(kafka.producer, settings.topics, metrics)
    async with transformations(settings, metrics) as transform:
        requests = RequestConsumer(
            settings, app[VIEW], kafka.follower, emitter, transform, metrics, crash
        )
        dedupe = DedupeConsumer(settings, kafka.producer, emitter, crash)
        emitter.candidate_sent = dedupe.wake
        consumers = (requests, dedupe)
        try:
            for consumer in consumers:
                await consumer.start()
            app[REQUESTS], app[DEDUPE] = requests, dedupe
            yield
        finally:
            # Routing in flight may finish; then its outputs are flushed and committed.
            for consumer in consumers:
                await consumer.stop(settings.shutdown_timeout_s)


def create_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[VIEW] = ConnectionView()
    app[METRICS] = RouterMetrics()

    def readiness() -> dict[str, bool]:
        kafka = app.get(KAFKA)
        requests = app.get(REQUESTS)
        return {
            **(kafka.readiness() if kafka else not_started()),
            "partitions_assigned": requests is not None and bool(requests.assignment()),
        }

    def details() -> dict[str, object]:
        kafka = app.get(KAFKA)
        return {"config_records_applied": kafka.follower.applied if kafka else 0}

    app.cleanup_ctx.append(pipeline_ctx)
    app.add_routes(probe_routes(app[METRICS].registry, readiness, details))
    return app
