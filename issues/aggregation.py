"""How one issue changes: opened by a first failure, counted by repeats, escalated when its
count crosses a threshold (notified at most once per interval), resolved after a quiet time
with successes, or changed by hand. Pure functions over a `Tracked` issue; times are unix ms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from issues.triggers import Trigger
from schemas.ids import derived_id

SAMPLES = 10  # sample event (and request) ids kept per issue: the latest ones


@dataclass(frozen=True, slots=True)
class Failure:
    """One failure an issue counts: a failed attempt, or a transformation that threw."""

    team_id: str
    connection_id: str | None
    destination_id: str | None
    source_id: str | None
    response_status: int | None
    error_code: str | None
    event_id: str | None
    request_id: str | None
    record_id: str  # the attempt or ignored id: what makes a derived issue id unique
    detail: str | None
    at: int


@dataclass(frozen=True, slots=True)
class Tracked:
    """An issue that is not resolved, with what the job needs beside its public state."""

    key: str
    issue: dict[str, Any]  # an IssueState record
    notified_at: int | None = None
    notified_level: int = 0  # the highest escalation threshold notified
    last_success_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tracked:
        return cls(**data)


def scope(issue: dict[str, Any] | Failure) -> str:
    """What an issue is about: its connection, or (backpressure) its destination."""
    if isinstance(issue, Failure):
        return issue.connection_id or issue.destination_id or ""
    return issue.get("connection_id") or issue.get("destination_id") or ""


def issue_key(trigger_id: str, failure: Failure) -> str:
    """One open issue per (trigger, connection — or destination —, error class)."""
    status, code = failure.response_status, failure.error_code
    kind = f"status:{status}" if status is not None else f"error:{code}"
    return f"{trigger_id}|{scope(failure)}|{kind}"


def _latest(ids: list[str], new: str | None) -> list[str]:
    if new is None or new in ids:
        return ids
    return [*ids, new][-SAMPLES:]


def open_issue(trigger: Trigger, failure: Failure) -> Tracked:
    at = failure.at
    key = issue_key(trigger.id, failure)
    issue = {
        "issue_id": derived_id("iss", at, key, failure.record_id),
        "team_id": failure.team_id,
        "type": trigger.type,
        "status": "OPENED",
        "issue_trigger_id": trigger.id,
        "connection_id": failure.connection_id,
        "destination_id": failure.destination_id,
        "source_id": failure.source_id,
        "response_status": failure.response_status,
        "error_code": failure.error_code,
        "count": 1,
        "first_seen_at": at,
        "last_seen_at": at,
        "opened_at": at,
        "resolved_at": None,
        "updated_at": at,
        "sample_event_ids": _latest([], failure.event_id),
        "sample_request_ids": _latest([], failure.request_id),
        "detail": failure.detail,
        "paused_at": at if trigger.action == "pause" else None,
        "version": 1,
    }
    return Tracked(key, issue, notified_at=at if trigger.channels else None)


def count_failure(tracked: Tracked, failure: Failure) -> Tracked:
    issue = tracked.issue
    return replace(
        tracked,
        issue={
            **issue,
            "count": issue["count"] + 1,
            "last_seen_at": max(issue["last_seen_at"], failure.at),
            "updated_at": failure.at,
            "version": issue["version"] + 1,
            "sample_event_ids": _latest(issue["sample_event_ids"], failure.event_id),
            "sample_request_ids": _latest(issue["sample_request_ids"], failure.request_id),
            "detail": failure.detail or issue.get("detail"),
        },
    )


def escalation(tracked: Tracked, trigger: Trigger, now: int) -> int | None:
    """The threshold to notify now, if the count crossed one not yet notified and the last
    notification is older than the interval (a storm never comes of a fast count)."""
    if tracked.issue["status"] == "IGNORED" or not trigger.channels:
        return None
    crossed = [
        t for t in trigger.escalate_at if tracked.notified_level < t <= tracked.issue["count"]
    ]
    if not crossed:
        return None
    if tracked.notified_at is not None and now - tracked.notified_at < trigger.notify_interval_ms:
        return None
    return crossed[-1]


def notified(tracked: Tracked, level: int, now: int) -> Tracked:
    return replace(tracked, notified_at=now, notified_level=level)


def succeeded(tracked: Tracked, at: int) -> Tracked:
    return replace(tracked, last_success_at=max(tracked.last_success_at or 0, at))


def due_to_resolve(tracked: Tracked, trigger: Trigger | None, now: int) -> bool:
    """Deliveries succeed again (a success after the last failure) and no failure came for
    the trigger's quiet time. An issue whose trigger is gone resolves at once."""
    if trigger is None:
        return True
    last_failure = tracked.issue["last_seen_at"]
    return (
        tracked.last_success_at is not None
        and tracked.last_success_at >= last_failure
        and now - last_failure >= trigger.resolve_after_ms
    )


def with_status(tracked: Tracked, status: str, now: int, version: int = 0) -> Tracked:
    """A status change (by hand, or RESOLVED by the job); a later version than any seen."""
    issue = tracked.issue
    return replace(
        tracked,
        issue={
            **issue,
            "status": status,
            "updated_at": now,
            "resolved_at": now if status == "RESOLVED" else None,
            "version": max(issue["version"], version) + 1,
        },
    )
