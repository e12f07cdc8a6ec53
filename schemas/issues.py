"""The public shape of an issue (API responses, notification bodies) from an IssueState record:
one function, so the issues API and the notifications the issues job sends never differ."""

from __future__ import annotations

from typing import Any

from schemas.ids import derived_id, id_time_ms
from schemas.times import iso_or_none

STATUSES = ("OPENED", "ACKNOWLEDGED", "RESOLVED", "IGNORED")
TYPES = ("delivery", "transformation", "backpressure")
OPEN = ("OPENED", "ACKNOWLEDGED", "IGNORED")  # not resolved: repeats update the issue
# Notification body types (API.md).
NOTIFICATION_TYPES = ("issue.opened", "issue.updated", "issue.resolved")
# The shortest time a trigger may name (its windows, intervals and backpressure's
# `oldest_pending_ms`): the API refuses less, and the issues job relies on it.
MIN_TRIGGER_MS = 1_000


def public_issue(state: dict[str, Any]) -> dict[str, Any]:
    keys = {k: state.get(k) for k in ("response_status", "error_code") if state.get(k) is not None}
    return {
        "id": state["issue_id"],
        "team_id": state["team_id"],
        "type": state["type"],
        "status": state["status"],
        "issue_trigger_id": state["issue_trigger_id"],
        "connection_id": state.get("connection_id"),
        "destination_id": state.get("destination_id"),
        "source_id": state.get("source_id"),
        "aggregation_keys": keys,
        "count": state["count"],
        "first_seen_at": iso_or_none(state["first_seen_at"]),
        "last_seen_at": iso_or_none(state["last_seen_at"]),
        "opened_at": iso_or_none(state["opened_at"]),
        "resolved_at": iso_or_none(state.get("resolved_at")),
        "updated_at": iso_or_none(state["updated_at"]),
        "sample_event_ids": list(state.get("sample_event_ids") or ()),
        "sample_request_ids": list(state.get("sample_request_ids") or ()),
        "detail": state.get("detail"),
        "paused_at": iso_or_none(state.get("paused_at")),
    }


def channel_ids(trigger_id: str, channel: str) -> tuple[str, str]:
    """(destination id, connection id) that deliver an issue trigger's channel: derived from
    the trigger's id, so the API (which writes them) and the issues job (which sends
    notifications through them) agree without looking anything up."""
    at = id_time_ms(trigger_id)
    return (
        derived_id("des", at, trigger_id, channel, "destination"),
        derived_id("con", at, trigger_id, channel, "connection"),
    )
