"""The issues job on the embedded broker: a record that follows a config change is judged on a
view that holds it, and records no new trigger could count cost no config round trip."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from issues.job import IssuesJob
from issues.metrics import IssuesMetrics
from runtime.settings import Settings
from schemas.codec import encode
from schemas.ids import new_id
from tests.issues.records import TEAM, attempt, config, trigger_entity
from tests.support.poll import eventually


@pytest.fixture
async def job(settings: Settings, producer) -> AsyncIterator[tuple[IssuesJob, str]]:
    connection_id = new_id("con")
    entity = {"id": connection_id, "team_id": TEAM, "destination_id": "des_1", "paused_at": None}
    await producer.send_and_wait(
        settings.topics.config,
        encode("ConfigChanged", config("connection", entity)),
        key=connection_id.encode(),
    )
    running = IssuesJob(settings, IssuesMetrics())
    await running.start()
    try:
        await eventually(lambda: _true(running.consuming.is_set()), 60, "the issues job consuming")
        yield running, connection_id
    finally:
        await running.stop()


def _syncs(job: IssuesJob) -> float:
    """Batches that waited for the config view (the job's own metric)."""
    return job.metrics.registry.get_sample_value("fasthook_issues_config_syncs_total") or 0.0


async def _true(value: bool) -> bool:
    return value


def _read(job: IssuesJob, sent: list):
    """Whether the job has read every one of these records (their producer's metadata)."""

    async def check() -> bool:
        at = {(tp.topic, tp.partition): offset for tp, offset in job.positions.items()}
        return all(at.get((m.topic, m.partition), 0) > m.offset for m in sent)

    return check


async def test_a_failure_right_after_its_trigger_is_made_is_counted(job, settings, producer):
    running, connection_id = job
    trigger_id = new_id("itr")
    # The trigger and, at once, a failed final attempt on its connection: the attempt may well
    # reach the job before the config view has read the trigger.
    await producer.send(
        settings.topics.config,
        encode(
            "ConfigChanged",
            config("issue_trigger", trigger_entity(trigger_id, strategy="final_attempt")),
        ),
        key=trigger_id.encode(),
    )
    failed = attempt(connection_id, int(time.time() * 1000))
    await producer.send_and_wait(
        settings.topics.attempts, encode("AttemptRecorded", failed), key=failed["event_id"].encode()
    )

    async def counted() -> list[dict]:
        return [
            t.issue
            for t in running.engine.tracked.values()
            if t.issue["issue_trigger_id"] == trigger_id
        ]

    issues = await eventually(counted, 60, "the failure counted under the new trigger")
    assert [(i["count"], i["sample_event_ids"]) for i in issues] == [(1, [failed["event_id"]])]
    assert _syncs(running) >= 1


async def test_successes_on_a_known_connection_need_no_config_round_trip(job, settings, producer):
    running, connection_id = job
    before = _syncs(running)
    now = int(time.time() * 1000)
    sent = []
    for i in range(20):
        # Delivered promptly: no trigger made a moment ago could count them.
        ok = attempt(connection_id, now + i, ok=True, event_id=new_id("evt", now + i - 5))
        sent.append(
            await producer.send_and_wait(
                settings.topics.attempts,
                encode("AttemptRecorded", ok),
                key=ok["event_id"].encode(),
            )
        )
    await eventually(_read(running, sent), 60, "the successes read")
    assert _syncs(running) == before
