"""Who runs a bulk job: the pure lease decisions, so any projections replica can run or resume
a job, none runs it twice, and none stalls when its replica dies.

The lease is part of the job's state on the bulk topic (`owner`, `token`, `lease_until`), so
it is committed in the same transactions as the job's pages and compaction keeps it with the
job. Safety does not rest on clocks: a replica claims a job by starting the producer whose
transactional id is the job's, which fences every older producer of the job (Kafka's producer
epoch is the fencing token that counts); `token` counts those claims so the topic shows who
took over when. The lease only decides *when* to claim — after its holder stopped renewing
it — and so keeps the replicas from fencing each other while the holder is alive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from projections.bulk_jobs import ACTIVE, Job

# How far through its lease a holder renews it: early enough that a slow page or a loaded
# machine does not let it lapse.
RENEW_AT = 0.5
_STATUS_RANK = {"QUEUED": 0, "RUNNING": 1, "COMPLETED": 2, "CANCELLED": 2}


def expired(job: Job, now_ms: int) -> bool:
    """Has the job's holder stopped renewing it (or has it never had one)?"""
    return not job.owner or job.lease_until <= now_ms


def to_claim(
    jobs: Iterable[Job], running: set[str], me: str, now_ms: int, *, starting: bool = False
) -> list[str]:
    """The active jobs this replica should take: their lease lapsed, or — when this replica
    has just started — it held them under its own name before it stopped. Jobs it runs
    already are left alone. Oldest first: the longest waiting job resumes first."""
    return sorted(
        job.id
        for job in jobs
        if job.status in ACTIVE
        and job.id not in running
        and (expired(job, now_ms) or (starting and job.owner == me))
    )


def created(job: Job, me: str, now_ms: int, lease_ms: int) -> Job:
    """A new job as its creator stores it: already leased to the creator (no claim counted
    yet), so the replicas that see it before the creator's worker claims it leave it alone."""
    return replace(job, owner=me, lease_until=now_ms + lease_ms)


def claimed(job: Job, me: str, now_ms: int, lease_ms: int) -> Job:
    """The job's state once `me` took it: the next token, a fresh lease."""
    return replace(job, owner=me, token=job.token + 1, lease_until=now_ms + lease_ms)


def released(job: Job) -> Job:
    """The holder's last state under its claim when its replica stops: the lease ends now, so
    another replica resumes the job at its next look rather than after the lease."""
    return replace(job, lease_until=0)


def is_released(job: Job) -> bool:
    return bool(job.owner) and job.lease_until == 0


def renewed(job: Job, now_ms: int, lease_ms: int) -> Job:
    """The holder's state with its lease pushed forward (the owner and token stay)."""
    return replace(job, lease_until=max(job.lease_until, now_ms + lease_ms))


def renew_due(job: Job, now_ms: int, lease_ms: int) -> bool:
    """Should the holder commit a renewal now (no page commit would renew it in time)?"""
    return job.lease_until - now_ms <= lease_ms * (1 - RENEW_AT)


def newer(candidate: Job, current: Job | None) -> bool:
    """Is `candidate` a later state of the job than `current`? A replica's view hears of a
    job both from the topic and from its own commits; the view must never go back (a view
    that regressed would show a stale state and could lead a replica to claim a held job).
    Within one claim a job only moves forward (a release is its last state); a later claim
    supersedes the earlier one."""
    if current is None:
        return True
    return _progress(candidate) >= _progress(current)


def _progress(job: Job) -> tuple[int, int, int, bool, int]:
    return (
        job.token,
        _STATUS_RANK.get(job.status, 0),
        job.processed_count,
        is_released(job),
        job.lease_until,
    )
