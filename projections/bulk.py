"""Bulk retries: durable jobs that retry every event (or replay every request) a list query
matches, in pages, each page sent at most once per job.

A job's state lives on the compacted `<ns>.bulk` topic (key = job id, value = JSON: an
internal record only this service reads, so no Avro contract). A worker per job walks the
matching ids in ascending order and publishes each page *and* the job's new state (processed
count, cursor = last id) in ONE transaction of a producer whose transactional id is the
job's: both are committed or neither is. A crash mid-page leaves an aborted page that
read_committed consumers (deliverer, projector) never see, and the job resumes from the last
committed cursor; a new producer of the job fences any older one (a zombie) and aborts its
open page before the worker re-reads the committed state. Replayed requests get derived ids,
so a page sent again (seen by a read_uncommitted reader) would carry the very same ids.

After a restart every QUEUED/RUNNING job is resumed; two processes resuming one job fence
each other and the later one runs it.

Here: the worker and the runner; a job's state and the topic's reading in `bulk_jobs.py`,
the SQL a job walks in `bulk_walk.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from itertools import accumulate
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced

from projections import queries
from projections.bulk_jobs import ACTIVE, Job, Kind, now_ms, read_jobs
from projections.bulk_walk import COUNT_ALL, PAGE_SIZE, request_records, upper_bound, walk_sql
from projections.clickhouse import Engine
from projections.errors import EngineError
from projections.metrics import ProjectionMetrics
from projections.models import manual_event, replayed_request
from runtime.errors import RuntimeSetupError
from runtime.kafka import make_producer
from runtime.problems import Conflict
from runtime.settings import Settings
from schemas.codec import encode
from schemas.ids import derived_id, new_id

log = logging.getLogger(__name__)

# A page is cut short past this many bytes of records: one transaction stays a bounded size.
PAGE_BYTES = 32 * 1024 * 1024
PageHook = Callable[["Job"], Awaitable[None]]
Message = tuple[str, bytes, bytes]  # topic, key, value
Item = tuple[str, Message | None]  # an item id, and its record (None: it cannot be retried)


# --- workers ----------------------------------------------------------------------------------
class Worker:
    """Runs one job to its end: pages until none is left, it is cancelled, or another
    process fenced it. Broker or engine failures restart the session from the committed
    state, so a commit whose outcome was unknown is never guessed at."""

    def __init__(self, runner: BulkRunner, job_id: str) -> None:
        self.runner = runner
        self.job_id = job_id
        self.cancel_requested = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    @property
    def job(self) -> Job:
        return self.runner.jobs[self.job_id]

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._session()
                return
            except ProducerFenced:
                log.warning("bulk job taken over by another process",
                            extra={"bulk_id": self.job_id})
                return
            except (KafkaError, EngineError, RuntimeSetupError, TimeoutError):
                log.exception("bulk job interrupted; resuming from its last committed page",
                              extra={"bulk_id": self.job_id})
                await self._pause(delay)
                delay = min(delay * 2, 30.0)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once for a cancel."""
        try:
            await asyncio.wait_for(self.cancel_requested.wait(), seconds)
        except TimeoutError:
            pass

    async def _session(self) -> None:
        runner = self.runner
        producer = make_producer(runner.settings.kafka_bootstrap,
                                 transactional_id=f"{runner.settings.topic_namespace}"
                                                  f"-bulk-{self.job_id}")
        # Starting fences every older producer of this job and aborts its open page; only
        # then is the committed state final enough to resume from.
        await producer.start()
        try:
            stored = (await read_jobs(runner.settings.kafka_bootstrap, runner.topic)).get(
                self.job_id)
            if stored is not None:
                runner.jobs[self.job_id] = stored
            while self.job.status in ACTIVE:
                if self.cancel_requested.is_set():
                    await self._commit(producer, [], replace(
                        self.job, status="CANCELLED", cancelled_at=now_ms()))
                    break
                await self._page(producer)
                if self.job.status in ACTIVE and runner.pause_s:
                    await self._pause(runner.pause_s)
        finally:
            try:
                await producer.stop()
            except KafkaError:  # a fenced producer may refuse a clean stop; it is gone anyway
                log.warning("bulk producer stop failed", exc_info=True)

    async def _page(self, producer: AIOKafkaProducer) -> None:
        job, runner = self.job, self.runner
        size = runner.page_size
        rows = await runner.fetch(walk_sql(runner.db, job, job.cursor, size))
        page, last = rows[:size], len(rows) <= size
        items = await self._items(job, page)
        sizes = accumulate(len(message[2]) if message else 0 for _, message in items)
        kept = next((i + 1 for i, total in enumerate(sizes) if total > PAGE_BYTES), len(items))
        if kept < len(items):
            items, last = items[:kept], False
        outgoing = [message for _, message in items if message is not None]
        state = replace(job, status="RUNNING",
                        processed_count=job.processed_count + len(items),
                        skipped_count=job.skipped_count + len(items) - len(outgoing),
                        cursor=items[-1][0] if items else job.cursor)
        if last:
            state = replace(state, status="COMPLETED", completed_at=now_ms())
        await self._commit(producer, outgoing, state)
        runner.metrics.retries.labels(f"bulk_{job.kind}").inc(len(outgoing))

    async def _items(self, job: Job, page: list[dict[str, Any]]) -> list[Item]:
        runner, now, topics = self.runner, now_ms(), self.runner.settings.topics
        ids = [row["id"] for row in page]
        out: list[Item] = []
        if not ids:
            return out
        if job.kind == "events":
            stored = {d["event_id"]: d for d in await runner.fetch(
                queries.event_data(runner.db, job.team_id, ids))}
            for row in page:
                data = stored.get(row["id"])  # None: the event's request is no longer stored
                if data is None:
                    out.append((row["id"], None))
                    continue
                # Same event id: this is one more attempt of the same event.
                event = manual_event(data, int(row["attempts"]), now, "BULK_RETRY", job.id)
                out.append((row["id"], (topics.events, row["id"].encode(),
                                        encode("EventCreated", event))))
            return out
        requests = {r["request_id"]: r for r in await runner.fetch(
            request_records(runner.db, job.team_id, ids))}
        for request_id in ids:
            data = requests.get(request_id)
            if data is None or data["status"] != "accepted":
                out.append((request_id, None))
                continue
            # Derived, not random: a page sent again would carry the very same ids.
            replay_id = derived_id("req", job.created_at, job.id, request_id)
            replay = replayed_request(data, replay_id, now, job.connection_ids)
            out.append((request_id, (topics.requests, replay_id.encode(),
                                     encode("RequestReceived", replay))))
        return out

    async def _commit(self, producer: AIOKafkaProducer,
                      outgoing: list[Message], state: Job) -> None:
        """The page's records and the job's new state: all committed, or none."""
        async with producer.transaction():
            sent = [await producer.send(topic, value, key=key)
                    for topic, key, value in outgoing]
            if self.runner.page_hook is not None:
                await self.runner.page_hook(state)
            sent.append(await producer.send(self.runner.topic, state.to_bytes(),
                                            key=state.id.encode()))
            await asyncio.gather(*sent)
        self.runner.jobs[state.id] = state


class BulkRunner:
    """Every job this process knows, and the workers of the active ones.

    `page_size`, `pause_s` (between pages) and `page_hook` (awaited inside a page's
    transaction, before its state is sent) are plain attributes so tests can slow a job
    down or stall it mid-page."""

    def __init__(self, settings: Settings, db: str, metrics: ProjectionMetrics) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.topic = settings.topics.bulk
        self.jobs: dict[str, Job] = {}
        self.workers: dict[str, Worker] = {}
        self.page_size = PAGE_SIZE
        self.pause_s = 0.0
        self.page_hook: PageHook | None = None
        self._engine: Engine | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self, engine: Engine, producer: AIOKafkaProducer) -> None:
        """Load every job and resume the ones that were queued or running."""
        self._engine, self._producer = engine, producer
        self.jobs = await read_jobs(self.settings.kafka_bootstrap, self.topic)
        for job in self.jobs.values():
            if job.status in ACTIVE:
                log.info("resuming bulk job", extra={"bulk_id": job.id,
                                                     "processed": job.processed_count})
                self._spawn(job.id)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop every worker; an open page is aborted and sent again after a restart."""
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def fetch(self, sql: queries.Sql) -> list[dict[str, Any]]:
        if self._engine is None:
            raise EngineError("the bulk runner is not started")
        return await self._engine.query(sql.text, sql.params, bytes_columns=sql.bytes_columns)

    async def estimate(self, kind: Kind, team_id: str, query: dict[str, Any],
                       at_ms: int | None = None) -> int:
        at = at_ms or now_ms()
        probe = Job("", team_id, kind, query, at, upper_bound(kind, at), 0)
        [row] = await self.fetch(walk_sql(self.db, probe, "", COUNT_ALL, count=True))
        return int(row["n"])

    async def create(self, kind: Kind, team_id: str, query: dict[str, Any],
                     connection_ids: list[str] | None = None) -> Job:
        at = now_ms()
        job = Job(new_id("blk", at), team_id, kind, query, at, upper_bound(kind, at),
                  await self.estimate(kind, team_id, query, at),
                  connection_ids=connection_ids)
        if self._producer is None:
            raise RuntimeSetupError("the bulk runner is not started")
        # Stored before its worker starts: every later state of the job lands after it.
        await self._producer.send_and_wait(self.topic, job.to_bytes(), key=job.id.encode())
        self.jobs[job.id] = job
        self._spawn(job.id)
        return job

    async def cancel(self, job: Job, timeout_s: float = 30.0) -> Job:
        """Ask the job's worker to stop before its next page and wait for the CANCELLED
        state to be committed (by the worker's producer: one writer per job keeps the
        topic's last value right). A job that already ended is returned as it is."""
        worker = self.workers.get(job.id)
        if job.status not in ACTIVE:
            return job
        if worker is None or worker.task is None or worker.task.done():
            raise Conflict(f"bulk job {job.id} is not run by this process")
        worker.cancel_requested.set()
        await asyncio.wait_for(asyncio.shield(worker.task), timeout_s)
        return self.jobs[job.id]

    def _spawn(self, job_id: str) -> None:
        worker = Worker(self, job_id)
        worker.task = asyncio.create_task(worker.run(), name=f"bulk:{job_id}")
        self.workers[job_id] = worker

        def done(task: asyncio.Task[None]) -> None:
            if self.workers.get(job_id) is worker:
                del self.workers[job_id]
            if not task.cancelled() and task.exception() is not None:
                log.error("bulk worker stopped", exc_info=task.exception(),
                          extra={"bulk_id": job_id})

        worker.task.add_done_callback(done)
