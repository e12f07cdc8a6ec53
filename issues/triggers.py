"""Issue triggers as the job reads them off the config topic, and what each one matches.
Pure: an attempt or an ignored event in, a decision out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.ids import id_time_ms
from schemas.records import AttemptRecorded
from schemas.status_codes import status_matches

DEFAULT_RESOLVE_AFTER_MS = 5 * 60_000
DEFAULT_NOTIFY_INTERVAL_MS = 60 * 60_000
DEFAULT_COUNT = 5
CHANNELS = ("webhook", "slack")


@dataclass(frozen=True, slots=True)
class Trigger:
    id: str
    team_id: str
    name: str
    type: str
    connections: frozenset[str] | None  # None: every connection
    strategy: str
    count: int
    response_status_codes: tuple[str, ...] | None
    error_codes: frozenset[str] | None
    resolve_after_ms: int
    notify_interval_ms: int
    escalate_at: tuple[int, ...]
    channels: tuple[str, ...]
    action: str
    enabled: bool
    destinations: frozenset[str] | None = None  # backpressure: None = every destination
    oldest_pending_ms: int | None = None
    pending_count: int | None = None

    def covers(self, connection_id: str | None) -> bool:
        return self.connections is None or connection_id in self.connections

    def covers_destination(self, destination_id: str) -> bool:
        return self.destinations is None or destination_id in self.destinations


def parse_trigger(entity: dict[str, Any]) -> Trigger:
    configs = entity.get("configs") or {}
    connections = configs.get("connections", "*")
    codes = configs.get("response_status_codes")
    errors = configs.get("error_codes")
    return Trigger(
        id=entity["id"],
        team_id=entity["team_id"],
        name=entity.get("name", ""),
        type=entity["type"],
        connections=None if connections == "*" else frozenset(connections),
        strategy=configs.get("strategy", "final_attempt"),
        count=int(configs.get("count") or DEFAULT_COUNT),
        response_status_codes=tuple(codes) if codes else None,
        error_codes=frozenset(errors) if errors else None,
        resolve_after_ms=int(configs.get("resolve_after_ms", DEFAULT_RESOLVE_AFTER_MS)),
        notify_interval_ms=int(configs.get("notify_interval_ms", DEFAULT_NOTIFY_INTERVAL_MS)),
        escalate_at=tuple(sorted(configs.get("escalate_at") or ())),
        channels=tuple(c for c in CHANNELS if (entity.get("channels") or {}).get(c)),
        action=entity.get("action", "notify"),
        enabled=entity.get("status", "enabled") == "enabled",
        destinations=None
        if configs.get("destinations", "*") == "*"
        else frozenset(configs["destinations"]),
        oldest_pending_ms=configs.get("oldest_pending_ms"),
        pending_count=configs.get("pending_count"),
    )


def failure_matches(trigger: Trigger, response_status: int | None, error_code: str | None) -> bool:
    """Does a failed attempt fall under the trigger's matchers? With neither matcher every
    failure does; with one or both, the failure must match one that speaks of its kind."""
    if trigger.response_status_codes is None and trigger.error_codes is None:
        return True
    if response_status is not None and trigger.response_status_codes is not None:
        if status_matches(list(trigger.response_status_codes), response_status):
            return True
    return (
        error_code is not None
        and trigger.error_codes is not None
        and error_code in trigger.error_codes
    )


def counts_attempt(trigger: Trigger, attempt: AttemptRecorded) -> bool:
    """Whether the strategy looks at this failed attempt at all (consecutive: every one)."""
    if trigger.strategy == "first_attempt":
        number: int = attempt["attempt_number"]
        return number == 1
    if trigger.strategy == "final_attempt":
        status: str = attempt["event_status"]
        return status == "FAILED"
    return True


def error_class(attempt: AttemptRecorded) -> tuple[int | None, str | None]:
    """The aggregation keys: a response's status, else the error code."""
    status = attempt.get("response_status")
    if status is not None:
        return status, None
    return None, attempt.get("error_code") or "UNKNOWN"


def first_attempt_wait_ms(
    attempt: AttemptRecorded, connection: dict[str, Any] | None
) -> int | None:
    """How long an event waited for its first attempt past its connection's delay rule (the
    event id holds its creation time); None for any other attempt."""
    if attempt["attempt_number"] != 1 or attempt["trigger"] != "INITIAL":
        return None
    delay = sum(
        int(rule.get("delay") or 0)
        for rule in (connection or {}).get("rules") or ()
        if rule.get("type") == "delay"
    )
    created_at: int = attempt["created_at"]
    return max(0, created_at - id_time_ms(attempt["event_id"]) - delay)
