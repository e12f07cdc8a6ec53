"""A notification is an event like any other: an EventCreated on the events topic for the
trigger's channel connection (a system entity the API wrote with the trigger), so the deliverer
signs it, retries it and records its attempts, and it can be listed and retried.

Ids are derived from the issue, its version and the channel: written again after a crash, the
same notification is the same event (receivers dedupe on `x-fasthook-event-id`)."""

from __future__ import annotations

import json
from typing import Any

from issues.triggers import Trigger
from schemas.ids import derived_id
from schemas.issues import channel_ids, public_issue

TITLES = {
    "issue.opened": "Issue opened",
    "issue.updated": "Issue escalated",
    "issue.resolved": "Issue resolved",
}


def webhook_body(kind: str, issue: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "issue": public_issue(issue)}


def slack_body(kind: str, issue: dict[str, Any], trigger: Trigger) -> dict[str, Any]:
    """A Slack incoming-webhook payload: `text` (the fallback and the message)."""
    keys = issue.get("response_status") or issue.get("error_code")
    where = issue.get("connection_id") or issue.get("destination_id") or "-"
    text = (
        f"*{TITLES[kind]}* ({trigger.name}): {issue['type']} issue {issue['issue_id']} "
        f"on {where}, {keys}, {issue['count']} time(s), status {issue['status']}"
    )
    if issue.get("detail"):
        text += f"\n> {issue['detail'][:300]}"
    return {"text": text}


def notification_events(
    trigger: Trigger, kind: str, issue: dict[str, Any], now: int
) -> list[dict[str, Any]]:
    events = []
    for channel in trigger.channels:
        destination_id, connection_id = channel_ids(trigger.id, channel)
        body = slack_body(kind, issue, trigger) if channel == "slack" else webhook_body(kind, issue)
        parts = (issue["issue_id"], kind, str(issue["version"]), channel)
        at = issue["updated_at"]  # this version's time: the same ids however often it is sent
        events.append(
            {
                "event_id": derived_id("evt", at, *parts),
                "request_id": derived_id("req", at, *parts),
                "team_id": issue["team_id"],
                "source_id": "",
                "connection_id": connection_id,
                "destination_id": destination_id,
                "created_at": now,
                "due_at": now,
                "attempt_number": 1,
                "trigger": "INITIAL",
                "source_url": "",
                "request": {
                    "method": "POST",
                    "path": "",
                    "query": "",
                    "headers": [
                        {"name": "content-type", "value": "application/json", "raw": None},
                        {"name": "user-agent", "value": "FastHook-Issues/1", "raw": None},
                    ],
                    "body": json.dumps(body, separators=(",", ":")).encode(),
                },
                "bulk_id": None,
            }
        )
    return events
