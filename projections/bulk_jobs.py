"""A bulk job's state, as the compacted `<ns>.bulk` topic stores it (key = job id, value =
JSON: an internal record only this service reads, so no Avro contract), and the reading of
every job's last committed state from that topic."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer

from runtime.kafka import read_compacted
from schemas.times import iso_or_none as iso

log = logging.getLogger(__name__)

Kind = Literal["events", "requests"]
ACTIVE = ("QUEUED", "RUNNING")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Job:
    """A bulk job's whole state, as stored on the bulk topic. Replaced, never mutated: the
    in-memory copy only changes once the broker committed the new state."""

    id: str
    team_id: str
    kind: Kind
    query: dict[str, Any]
    created_at: int
    # The greatest id the job may touch: ids minted before the job, so items arriving during
    # the job (and a requests job's own replays) are never walked into.
    upper: str
    estimated_count: int
    status: str = "QUEUED"
    processed_count: int = 0
    skipped_count: int = 0  # walked but not retryable (an event whose request is gone)
    cursor: str = ""  # the last id processed; the walk goes on after it
    completed_at: int | None = None
    cancelled_at: int | None = None
    connection_ids: list[str] | None = None  # a requests job: replayed to these only
    # The lease (projections.bulk_lease): the replica running the job, how many times a
    # replica claimed it, and until when (ms) its holder vouches for it.
    owner: str = ""
    token: int = 0
    lease_until: int = 0

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Job:
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def model(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "kind": self.kind,
            "query": self.query,
            "estimated_count": self.estimated_count,
            "processed_count": self.processed_count,
            "skipped_count": self.skipped_count,
            "created_at": iso(self.created_at),
            "completed_at": iso(self.completed_at),
            "cancelled_at": iso(self.cancelled_at),
            "connection_ids": self.connection_ids,
        }


async def read_jobs(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[str, Job]:
    """Every job's last committed state: the topic read to its end (read_committed, so an
    aborted page's state never counts)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout_s):
            stored = await read_compacted(consumer, topic)
    finally:
        await consumer.stop()
    jobs: dict[str, Job] = {}
    for job_id, value in stored.items():
        try:
            jobs[job_id] = Job.from_bytes(value)
        except (ValueError, TypeError):
            # One unreadable job must not keep the others from resuming.
            log.exception("unreadable bulk job record; skipped", extra={"bulk_id": job_id})
    return jobs
