"""Notification events: a signed-webhook body per the contract, a Slack incoming-webhook
payload, stable ids (the same notification written twice is the same event)."""

from __future__ import annotations

import json

from issues.notifications import notification_events
from issues.triggers import parse_trigger
from schemas.codec import decode, encode
from schemas.issues import channel_ids
from tests.issues.records import trigger_entity
from tests.schemas.test_codec import issue_sample

NOW = 1_700_000_000_000


def test_one_event_per_channel_with_the_contract_bodies():
    trigger = parse_trigger(
        trigger_entity(
            "itr_01JABCDEFGHJKMNPQRSTVWXYZ0",
            channels={
                "webhook": {"url": "https://ops.example.com"},
                "slack": {"url": "https://hooks.slack.com/services/T/B/X"},
            },
        )
    )
    issue = issue_sample()
    webhook, slack = notification_events(trigger, "issue.opened", issue, NOW)
    assert (webhook["destination_id"], webhook["connection_id"]) == channel_ids(
        trigger.id, "webhook"
    )
    body = json.loads(webhook["request"]["body"])
    assert body["type"] == "issue.opened" and body["issue"]["id"] == issue["issue_id"]
    assert body["issue"]["aggregation_keys"] == {"response_status": 500}
    assert set(json.loads(slack["request"]["body"])) == {"text"}
    assert "Issue opened" in json.loads(slack["request"]["body"])["text"]
    assert decode(encode("EventCreated", webhook)) == webhook
    again = notification_events(trigger, "issue.opened", issue, NOW + 5)
    assert [e["event_id"] for e in again] == [webhook["event_id"], slack["event_id"]]
