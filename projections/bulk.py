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

Any projections replica runs or resumes a job (projections.bulk_lease): every replica keeps
a view of every job by tailing the bulk topic; the replica running a job renews its lease
with each committed page, and when a lease lapses (its replica died or hangs) another replica
claims the job by starting the job's producer — which fences the old one — and resumes from
the last committed page. A cancel from any replica is such a claim, committing CANCELLED.

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

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerFenced

from projections import queries
from projections.bulk_jobs import ACTIVE, Job, Kind, now_ms, read_jobs
from projections.bulk_lease import (
    claimed,
    created,
    expired,
    newer,
    released,
    renew_due,
    renewed,
    to_claim,
)
from projections.bulk_walk import COUNT_ALL, PAGE_SIZE, request_records, upper_bound, walk_sql
from projections.clickhouse import Engine
from projections.errors import EngineError
from projections.mappers import manual_event, replayed_request
from projections.metrics import ProjectionMetrics
from runtime.background import BackgroundTask
from runtime.errors import RuntimeSetupError
from runtime.kafka import make_producer, read_compacted
from runtime.resting import BACKGROUND_HOLD_MAX_S, RestingConsumer
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
        self.cancel_requested = False
        self.release_requested = False  # this replica stops: hand the job over at once
        self._wake = asyncio.Event()  # set by either request: a pause ends at once
        self.task: asyncio.Task[None] | None = None
        # The job as this worker committed it: its own, never the (lagging) shared view, so
        # a page is never walked from a stale cursor.
        self.job = runner.jobs[job_id]

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._session()
                return
            except ProducerFenced:
                log.warning(
                    "bulk job taken over by another process", extra={"bulk_id": self.job_id}
                )
                return
            except (KafkaError, EngineError, RuntimeSetupError, TimeoutError):
                log.exception(
                    "bulk job interrupted; resuming from its last committed page",
                    extra={"bulk_id": self.job_id},
                )
                await self._pause(delay)
                delay = min(delay * 2, 30.0)
                if self.release_requested:
                    return  # this replica stops: the lease lapses and another resumes it
                seen = self.runner.jobs[self.job_id]
                if seen.owner != self.runner.me and not expired(seen, now_ms()):
                    return  # another replica holds it now: claiming it back would thrash

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once for a cancel."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _session(self) -> None:
        runner = self.runner
        producer = make_producer(
            runner.settings.kafka_bootstrap,
            transactional_id=f"{runner.settings.topic_namespace}-bulk-{self.job_id}",
        )
        # Starting fences every older producer of this job and aborts its open page; only
        # then is the committed state final enough to resume from.
        await producer.start()
        try:
            stored = (await read_jobs(runner.settings.kafka_bootstrap, runner.topic)).get(
                self.job_id
            )
            self.job = stored or self.job
            runner.see(self.job)
            if self.job.status not in ACTIVE:
                return
            # The claim, committed at once: the other replicas see the job is held again.
            await self._commit(
                producer, [], claimed(self.job, runner.me, now_ms(), runner.lease_ms)
            )
            runner.metrics.bulk_claims.inc()
            while self.job.status in ACTIVE:
                if self.cancel_requested:
                    await self._commit(
                        producer, [], replace(self.job, status="CANCELLED", cancelled_at=now_ms())
                    )
                    break
                if self.release_requested:
                    # The lease ended now: another replica resumes the job at its next look
                    # instead of after the lease.
                    await self._commit(producer, [], released(self.job), renew=False)
                    break
                await self._page(producer)
                if self.job.status in ACTIVE and runner.pause_s:
                    await self._rest(producer, runner.pause_s)
        finally:
            try:
                await producer.stop()
            except KafkaError:  # a fenced producer may refuse a clean stop; it is gone anyway
                log.warning("bulk producer stop failed", exc_info=True)

    async def _rest(self, producer: AIOKafkaProducer, seconds: float) -> None:
        """Pause between pages, renewing the lease whenever it is due (a cancel wakes it)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while not self._wake.is_set() and (left := end - loop.time()) > 0:
            if renew_due(self.job, now_ms(), self.runner.lease_ms):
                await self._commit(producer, [], self.job)
            await self._pause(min(left, self.runner.lease_ms / 4000))

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
        state = replace(
            job,
            status="RUNNING",
            processed_count=job.processed_count + len(items),
            skipped_count=job.skipped_count + len(items) - len(outgoing),
            cursor=items[-1][0] if items else job.cursor,
        )
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
            stored = {
                d["event_id"]: d
                for d in await runner.fetch(queries.event_data(runner.db, job.team_id, ids))
            }
            for row in page:
                data = stored.get(row["id"])  # None: the event's request is no longer stored
                if data is None:
                    out.append((row["id"], None))
                    continue
                # Same event id: this is one more attempt of the same event.
                event = manual_event(data, int(row["attempts"]), now, "BULK_RETRY", job.id)
                out.append(
                    (row["id"], (topics.events, row["id"].encode(), encode("EventCreated", event)))
                )
            return out
        requests = {
            r["request_id"]: r
            for r in await runner.fetch(request_records(runner.db, job.team_id, ids))
        }
        for request_id in ids:
            data = requests.get(request_id)
            if data is None or data["status"] != "accepted":
                out.append((request_id, None))
                continue
            # Derived, not random: a page sent again would carry the very same ids.
            replay_id = derived_id("req", job.created_at, job.id, request_id)
            replay = replayed_request(data, replay_id, now, job.connection_ids)
            out.append(
                (
                    request_id,
                    (topics.requests, replay_id.encode(), encode("RequestReceived", replay)),
                )
            )
        return out

    def request(self, *, cancel: bool = False, release: bool = False) -> None:
        """Stop before the next page: cancelling the job, or releasing it to the others."""
        self.cancel_requested |= cancel
        self.release_requested |= release
        self._wake.set()

    async def _commit(
        self, producer: AIOKafkaProducer, outgoing: list[Message], state: Job, *, renew: bool = True
    ) -> None:
        """The page's records and the job's new state (its lease renewed): all committed, or
        none."""
        if renew and state.status in ACTIVE:
            state = renewed(state, now_ms(), self.runner.lease_ms)
        async with producer.transaction():
            sent = [await producer.send(topic, value, key=key) for topic, key, value in outgoing]
            if self.runner.page_hook is not None:
                await self.runner.page_hook(state)
            sent.append(
                await producer.send(self.runner.topic, state.to_bytes(), key=state.id.encode())
            )
            await asyncio.gather(*sent)
        self.job = state
        self.runner.see(state)


class BulkRunner:
    """This replica's view of every job (the bulk topic, tailed) and the workers of the jobs
    it holds; it claims the active jobs whose lease lapsed.

    `page_size`, `pause_s` (between pages) and `page_hook` (awaited inside a page's
    transaction, before its state is sent) are plain attributes so tests can slow a job
    down or stall it mid-page."""

    def __init__(self, settings: Settings, db: str, metrics: ProjectionMetrics) -> None:
        self.settings = settings
        self.db = db
        self.metrics = metrics
        self.topic = settings.topics.bulk
        self.me = settings.member_name("projections")
        self.lease_ms = max(1, int(settings.bulk_lease_s * 1000))
        self.jobs: dict[str, Job] = {}
        self.workers: dict[str, Worker] = {}
        self.page_size = PAGE_SIZE
        self.pause_s = 0.0
        self.page_hook: PageHook | None = None
        self._engine: Engine | None = None
        self._producer: AIOKafkaProducer | None = None
        self._watch = BackgroundTask("bulk-leases")

    async def start(self, engine: Engine, producer: AIOKafkaProducer) -> None:
        """Read every job, resume the active ones this replica held (or nobody holds), then
        keep watching the topic for jobs whose replica stopped renewing them."""
        self._engine, self._producer = engine, producer
        tail = RestingConsumer(
            idle_hold_max_s=BACKGROUND_HOLD_MAX_S,
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await tail.start()
        try:
            async with asyncio.timeout(30):
                for job_id, value in (await read_compacted(tail, self.topic)).items():
                    self._see_raw(job_id, value)
        except BaseException:
            await tail.stop()
            raise
        self._claim(starting=True)
        self._watch.start(self._watching(tail))

    async def _watching(self, tail: AIOKafkaConsumer) -> None:
        check_s = min(max(self.lease_ms / 4000, 0.2), 5.0)
        try:
            while not self._watch.stopping:
                try:
                    batches = await tail.getmany(timeout_ms=int(check_s * 1000))
                except KafkaError:
                    log.warning("reading the bulk topic failed; retrying", exc_info=True)
                    await asyncio.sleep(check_s)
                    continue
                for messages in batches.values():
                    for message in messages:
                        key = message.key.decode("utf-8", "replace") if message.key else ""
                        if message.value is not None:
                            self._see_raw(key, message.value)
                self._claim()
        finally:
            await tail.stop()

    def _see_raw(self, job_id: str, value: bytes) -> None:
        try:
            self.see(Job.from_bytes(value))
        except (ValueError, TypeError):
            # One unreadable job must not keep the others from resuming.
            log.exception("unreadable bulk job record; skipped", extra={"bulk_id": job_id})

    def see(self, job: Job) -> None:
        """A state of a job, from the topic or a local commit: the view only moves forward."""
        if newer(job, self.jobs.get(job.id)):
            self.jobs[job.id] = job

    def _claim(self, *, starting: bool = False) -> None:
        for job_id in to_claim(
            self.jobs.values(), set(self.workers), self.me, now_ms(), starting=starting
        ):
            log.info(
                "claiming bulk job",
                extra={
                    "bulk_id": job_id,
                    "processed": self.jobs[job_id].processed_count,
                    "previous_owner": self.jobs[job_id].owner,
                },
            )
            self._spawn(job_id)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop watching; let every worker finish its page and release its job (so another
        replica resumes it at once), within half of `timeout_s`; then cancel what is left —
        an open page is aborted and sent again by whichever replica resumes the job after its
        lease lapses."""
        await self._watch.stop(0)  # it only waits on the topic: nothing to finish
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for worker in self.workers.values():
            worker.request(release=True)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s / 2)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s / 2)

    async def fetch(self, sql: queries.Sql) -> list[dict[str, Any]]:
        if self._engine is None:
            raise EngineError("the bulk runner is not started")
        return await self._engine.query(sql.text, sql.params, bytes_columns=sql.bytes_columns)

    async def estimate(
        self, kind: Kind, team_id: str, query: dict[str, Any], at_ms: int | None = None
    ) -> int:
        at = at_ms or now_ms()
        probe = Job("", team_id, kind, query, at, upper_bound(kind, at), 0)
        [row] = await self.fetch(walk_sql(self.db, probe, "", COUNT_ALL, count=True))
        return int(row["n"])

    async def create(
        self,
        kind: Kind,
        team_id: str,
        query: dict[str, Any],
        connection_ids: list[str] | None = None,
    ) -> Job:
        at = now_ms()
        job = created(
            Job(
                new_id("blk", at),
                team_id,
                kind,
                query,
                at,
                upper_bound(kind, at),
                await self.estimate(kind, team_id, query, at),
                connection_ids=connection_ids,
            ),
            self.me,
            at,
            self.lease_ms,
        )
        if self._producer is None:
            raise RuntimeSetupError("the bulk runner is not started")
        # Stored before its worker starts: every later state of the job lands after it.
        await self._producer.send_and_wait(self.topic, job.to_bytes(), key=job.id.encode())
        self.see(job)
        self._spawn(job.id)
        return job

    async def cancel(self, job: Job, timeout_s: float = 30.0) -> Job:
        """Stop the job before its next page and wait for the CANCELLED state to be committed
        — by the job's producer, so one writer at a time keeps the topic's last value right.
        A job another replica runs is claimed for that (its worker is fenced). A job that
        already ended is returned as it is."""
        if job.status not in ACTIVE:
            return job
        worker = self.workers.get(job.id)
        if worker is None or worker.task is None or worker.task.done():
            worker = self._spawn(job.id)
        worker.request(cancel=True)
        assert worker.task is not None
        await asyncio.wait_for(asyncio.shield(worker.task), timeout_s)
        return self.jobs[job.id]

    def _spawn(self, job_id: str) -> Worker:
        worker = Worker(self, job_id)
        worker.task = asyncio.create_task(worker.run(), name=f"bulk:{job_id}")
        self.workers[job_id] = worker

        def done(task: asyncio.Task[None]) -> None:
            if self.workers.get(job_id) is worker:
                del self.workers[job_id]
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "bulk worker stopped", exc_info=task.exception(), extra={"bulk_id": job_id}
                )

        worker.task.add_done_callback(done)
        return worker
