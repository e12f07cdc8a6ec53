"""Bulk retries against the real broker and chdb: plan, run, cancel, restart and takeover.

"Sent once per job" is checked the way the deliverer sees the topics: read_committed. The
aborted pages a stop leaves behind are visible read_uncommitted, which shows the test really
interrupted a page.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from fasthook.embedded import free_port
from projections.bulk_jobs import Job, read_jobs
from projections.keys import BULK
from runtime.settings import Settings
from schemas.codec import decode
from schemas.ids import derived_id
from tests.projections.conftest import TEAM, Service, start_service, stop_service
from tests.projections.records import attempt_record, event_record, publish, request_record
from tests.support.poll import eventually

SOURCE = "src_bulk"
TOTAL = 1000


async def read_all(bootstrap: str, topic: str, *, committed: bool = True) -> list[dict[str, Any]]:
    """Every record of `topic` now there, decoded, as a read_committed (or not) consumer."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed" if committed else "read_uncommitted",
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(20):
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    out += [decode(m.value) for m in messages]
        return out
    finally:
        await consumer.stop()


async def bulk_events(
    bootstrap: str, settings: Settings, bulk_id: str, *, committed: bool = True
) -> Counter[str]:
    records = await read_all(bootstrap, settings.topics.events, committed=committed)
    return Counter(
        r["event_id"] for r in records if r["bulk_id"] == bulk_id and r["trigger"] == "BULK_RETRY"
    )


async def seed_failed(service: Service, producer: Any, count: int = TOTAL) -> list[str]:
    """`count` FAILED events (and a few successful ones the filter must leave out)."""
    requests = [request_record(TEAM, SOURCE) for _ in range(count + 10)]
    events = [event_record(r) for r in requests]
    attempts = [attempt_record(e, status=500) for e in events[:count]]
    attempts += [attempt_record(e, status=200, event_status="SUCCESSFUL") for e in events[count:]]
    await publish(producer, service.settings, "events", events)
    await publish(producer, service.settings, "attempts", attempts)
    await service.caught_up(30)
    return sorted(e["event_id"] for e in events[:count])


async def progress(service: Service, job_id: str, kind: str = "events") -> dict[str, Any]:
    status, body = await service.call("GET", f"/v1/bulk/{kind}/retry/{job_id}")
    assert status == 200, body
    return body


async def until(
    service: Service, job_id: str, check: Any, kind: str = "events", timeout_s: float = 30.0
) -> dict[str, Any]:
    async def poll() -> dict[str, Any] | None:
        body = await progress(service, job_id, kind)
        return body if check(body) else None

    return await eventually(poll, timeout_s, f"bulk {job_id} progress", 0.05)


async def test_bulk_retry_of_failed_events(service: Service, producer, bootstrap) -> None:
    failed = await seed_failed(service, producer)
    query = {"status": "FAILED", "source_id": SOURCE}
    status, body = await service.call("POST", "/v1/bulk/events/retry/plan", json={"query": query})
    assert (status, body) == (200, {"estimated_count": TOTAL})
    status, job = await service.call("POST", "/v1/bulk/events/retry", json={"query": query})
    assert status == 202 and job["id"].startswith("blk_") and job["kind"] == "events"
    assert job["status"] in ("QUEUED", "RUNNING") and job["estimated_count"] == TOTAL
    assert job["query"] == query and job["created_at"] and job["completed_at"] is None

    done = await until(service, job["id"], lambda b: b["status"] == "COMPLETED")
    assert done["processed_count"] == TOTAL and done["completed_at"]
    sent = await bulk_events(bootstrap, service.settings, job["id"])
    assert sorted(sent) == failed and set(sent.values()) == {1}
    records = await read_all(bootstrap, service.settings.topics.events)
    assert {r["attempt_number"] for r in records if r["bulk_id"] == job["id"]} == {2}
    # The projector reads the committed retries: no event is FAILED any more.
    await service.caught_up(30)
    _, body = await service.call("POST", "/v1/bulk/events/retry/plan", json={"query": query})
    assert body == {"estimated_count": 0}


async def test_bulk_query_validation_and_scope(service: Service) -> None:
    for query, path in (
        ({"nope": "x"}, "query.nope"),
        ({"limit": 10}, "query.limit"),
        ({"next": "abc"}, "query.next"),
        ({"status": "LOST"}, "query.status"),
    ):
        status, body = await service.call("POST", "/v1/bulk/events/retry", json={"query": query})
        assert status == 422 and [e["path"] for e in body["errors"]] == [path], body
    status, body = await service.call(
        "POST", "/v1/bulk/requests/retry/plan", json={"query": {"status": "rejected"}}
    )
    assert status == 422 and body["errors"][0]["path"] == "query.status"
    status, _ = await service.call("POST", "/v1/bulk/events/retry", json={})
    assert status == 422
    status, job = await service.call(
        "POST", "/v1/bulk/events/retry", json={"query": {"source_id": "src_none"}}
    )
    assert status == 202 and job["estimated_count"] == 0
    await until(service, job["id"], lambda b: b["status"] == "COMPLETED")
    for path, team in (
        (f"/v1/bulk/events/retry/{job['id']}", "tm_other"),
        (f"/v1/bulk/requests/retry/{job['id']}", TEAM),
        ("/v1/bulk/events/retry/blk_nope", TEAM),
    ):
        status, _ = await service.call("GET", path, team=team)
        assert status == 404, path
    status, _ = await service.call("POST", f"/v1/bulk/events/retry/{job['id']}/cancel")
    assert status == 409  # it already completed


async def test_cancel_stops_before_the_next_page(service: Service, producer, bootstrap) -> None:
    await seed_failed(service, producer)
    runner = service.app[BULK]
    runner.page_size, runner.pause_s = 50, 0.05
    _, job = await service.call(
        "POST", "/v1/bulk/events/retry", json={"query": {"status": "FAILED"}}
    )
    await until(service, job["id"], lambda b: b["processed_count"] >= 100)
    status, cancelled = await service.call("POST", f"/v1/bulk/events/retry/{job['id']}/cancel")
    assert status == 200 and cancelled["status"] == "CANCELLED" and cancelled["cancelled_at"]
    assert 100 <= cancelled["processed_count"] < TOTAL
    sent = await bulk_events(bootstrap, service.settings, job["id"])
    assert sum(sent.values()) == len(sent) == cancelled["processed_count"]
    await asyncio.sleep(0.5)  # a worker that went on would have sent its next page by now
    assert await bulk_events(bootstrap, service.settings, job["id"]) == sent
    assert (await progress(service, job["id"]))["status"] == "CANCELLED"
    status, again = await service.call("POST", f"/v1/bulk/events/retry/{job['id']}/cancel")
    assert status == 200 and again == cancelled
    stored = await read_jobs(bootstrap, service.settings.topics.bulk)
    assert stored[job["id"]].status == "CANCELLED"


def stall_at(processed: int, reached: asyncio.Event, release: asyncio.Event) -> Any:
    """A page hook that holds the page reaching `processed` open (records sent, state not)."""

    async def hook(state: Job) -> None:
        if state.status == "RUNNING" and state.processed_count >= processed:
            reached.set()
            await release.wait()

    return hook


async def test_restart_mid_page_resumes_and_sends_each_event_once(
    psettings: Settings, db: str, producer, bootstrap
) -> None:
    first: Service | None = await start_service(psettings)
    second: Service | None = None
    try:
        assert first is not None
        failed = await seed_failed(first, producer)
        reached = asyncio.Event()
        first.app[BULK].page_size = 50
        first.app[BULK].page_hook = stall_at(300, reached, asyncio.Event())
        _, job = await first.call(
            "POST", "/v1/bulk/events/retry", json={"query": {"status": "FAILED"}}
        )
        await asyncio.wait_for(reached.wait(), 30)
        assert (await progress(first, job["id"]))["processed_count"] == 250
        await stop_service(first)  # the open page (251-300) is aborted
        first = None
        second = await start_service(psettings)
        done = await until(second, job["id"], lambda b: b["status"] == "COMPLETED")
        assert done["processed_count"] == TOTAL
        sent = await bulk_events(bootstrap, psettings, job["id"])
        assert sorted(sent) == failed and set(sent.values()) == {1}
        everything = await bulk_events(bootstrap, psettings, job["id"], committed=False)
        assert sum(everything.values()) == TOTAL + 50  # the aborted page is in the log
    finally:
        for running in (first, second):
            if running is not None:
                await stop_service(running)


async def test_a_second_process_fences_a_stalled_one(
    psettings: Settings, db: str, producer, bootstrap
) -> None:
    # The stalled page stops the first process renewing its lease: once it lapses, the
    # second process claims the job.
    psettings = psettings.with_(bulk_lease_s=3.0)
    first = await start_service(psettings)
    second: Service | None = None
    release = asyncio.Event()
    try:
        failed = await seed_failed(first, producer)
        reached = asyncio.Event()
        first.app[BULK].page_size = 50
        first.app[BULK].page_hook = stall_at(100, reached, release)
        _, job = await first.call(
            "POST", "/v1/bulk/events/retry", json={"query": {"status": "FAILED"}}
        )
        await asyncio.wait_for(reached.wait(), 30)
        # A zombie: the first process still holds its page open when the second takes over.
        second = await start_service(
            psettings.with_(
                projections_port=free_port(), analysts_port=free_port(), instance_id="second"
            )
        )
        await until(second, job["id"], lambda b: b["status"] == "COMPLETED")
        release.set()  # the zombie wakes up fenced: its page can no longer commit
        worker = first.app[BULK].workers.get(job["id"])
        if worker is not None and worker.task is not None:
            await asyncio.wait_for(asyncio.shield(worker.task), 30)
        sent = await bulk_events(bootstrap, psettings, job["id"])
        assert sorted(sent) == failed and set(sent.values()) == {1}
        stored = await read_jobs(bootstrap, psettings.topics.bulk)
        assert stored[job["id"]].status == "COMPLETED"
        assert stored[job["id"]].processed_count == TOTAL
    finally:
        release.set()
        for running in (first, second):
            if running is not None:
                await stop_service(running)


async def test_bulk_replay_of_requests(service: Service, producer, bootstrap) -> None:
    accepted = [request_record(TEAM, SOURCE) for _ in range(30)]
    rejected = [
        request_record(TEAM, SOURCE, status="rejected", cause="METHOD_NOT_ALLOWED")
        for _ in range(5)
    ]
    await publish(producer, service.settings, "requests", accepted + rejected)
    await service.caught_up(30)
    query = {"source_id": SOURCE}
    _, plan = await service.call("POST", "/v1/bulk/requests/retry/plan", json={"query": query})
    assert plan == {"estimated_count": 30}
    status, job = await service.call("POST", "/v1/bulk/requests/retry", json={"query": query})
    assert status == 202 and job["kind"] == "requests"
    assert job["query"] == {"source_id": SOURCE, "status": "accepted"}
    done = await until(service, job["id"], lambda b: b["status"] == "COMPLETED", "requests")
    assert done["processed_count"] == 30
    records = await read_all(bootstrap, service.settings.topics.requests)
    replays = [r for r in records if r["replay_of"]]
    originals = {r["request_id"]: r for r in accepted}
    assert sorted(r["replay_of"] for r in replays) == sorted(originals)
    created_ms = (await read_jobs(bootstrap, service.settings.topics.bulk))[job["id"]].created_at
    for replay in replays:
        original = originals[replay["replay_of"]]
        assert replay["request_id"] == derived_id(
            "req", created_ms, job["id"], original["request_id"]
        )
        assert replay["body"] == original["body"] and replay["status"] == "accepted"
    # The replays are projected as new requests; the job never walked into its own replays.
    await service.wait_for("/v1/requests", 65, source_id=SOURCE)
