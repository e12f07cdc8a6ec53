"""Pure decisions of the issues pages: the list's filters, which status changes an issue
offers, what "affected" means for its type, and how its aggregation keys read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ISSUE_FILTERS: dict[str, str] = {
    "status": "status",
    "type": "type",
    "connection_id": "connection_id",
    "destination_id": "destination_id",
    "from": "created_at[gte]",
    "to": "created_at[lte]",
}
ISSUE_STATUSES = ("OPENED", "ACKNOWLEDGED", "IGNORED", "RESOLVED")
ISSUE_TYPES = ("delivery", "transformation", "backpressure")
ISSUE_VIEWS: tuple[tuple[str, dict[str, str]], ...] = (
    ("Open", {"status": "OPENED"}),
    ("Acknowledged", {"status": "ACKNOWLEDGED"}),
    ("Ignored", {"status": "IGNORED"}),
    ("Resolved", {"status": "RESOLVED"}),
    ("All", {}),
)
# (status asked, the button's words), per current status. A resolved issue stays resolved:
# the next failure opens a new one.
ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "OPENED": (("ACKNOWLEDGED", "Acknowledge"), ("RESOLVED", "Resolve"), ("IGNORED", "Ignore")),
    "ACKNOWLEDGED": (("RESOLVED", "Resolve"), ("IGNORED", "Ignore"), ("OPENED", "Reopen")),
    "IGNORED": (("RESOLVED", "Resolve"), ("OPENED", "Reopen")),
    "RESOLVED": (),
}


def status_actions(status: str) -> tuple[tuple[str, str], ...]:
    return ACTIONS.get(status, ())


def allowed_status(current: str, asked: str) -> bool:
    return any(asked == target for target, _ in status_actions(current))


def affected(issue: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """What the issue's replay takes, as (list kind, the list's query): its events still
    FAILED, or (transformation) its requests; None when nothing can be replayed."""
    if issue.get("events_query"):
        return "events", dict(issue["events_query"])
    if issue.get("requests_query"):
        return "requests", dict(issue["requests_query"])
    return None


def as_params(query: Mapping[str, Any], limit: int = 50) -> dict[str, str]:
    """A list query (JSON values) as URL parameters of the API's list route."""
    return {**{k: str(v) for k, v in query.items() if v is not None}, "limit": str(limit)}


def keys_text(issue: Mapping[str, Any]) -> str:
    keys = issue.get("aggregation_keys") or {}
    if keys.get("response_status") is not None:
        return f"HTTP {keys['response_status']}"
    return str(keys.get("error_code") or "—")


def scope_text(
    issue: Mapping[str, Any], connections: Mapping[str, str], destinations: Mapping[str, str]
) -> str:
    """Where the issue is: its connection by name, else (backpressure) its destination."""
    if issue.get("connection_id"):
        return connections.get(issue["connection_id"], issue["connection_id"])
    destination = issue.get("destination_id") or ""
    return destinations.get(destination, destination) or "—"
