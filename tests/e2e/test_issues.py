"""Issues end to end (real broker, real ClickHouse engine, real receivers, the issues job as
an OS process): a receiver answering 500 opens an issue, a signed notification arrives at a
second receiver, repeats update the same issue, recovery resolves it after the quiet time
(with a resolve notification), and replay retries exactly the events that stayed FAILED."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.support.http import send_raw
from tests.support.poll import eventually
from tests.support.receiver import Receiver
from tests.support.stack import Stack, running_stack, stack_settings

FORM = [("Content-Type", "application/x-www-form-urlencoded")]


@pytest.fixture
def settings(settings: Settings, engine) -> Settings:
    return stack_settings(settings, engine)


class Switch:
    """A receiver's answer that the test flips: 500 while down, 200 once back."""

    def __init__(self) -> None:
        self.down = True

    def __call__(self, n, got):
        return (500, {}) if self.down else (200, {})


@pytest.fixture
async def stack(settings: Settings, engine, tmp_path) -> AsyncIterator[tuple[Stack, Switch]]:
    switch = Switch()
    async with running_stack(
        settings, engine, tmp_path, Receiver(answer=switch), issues=True
    ) as running:
        yield running, switch


def verified(got, secret: str) -> bool:
    """x-fasthook-signature checked as a receiver would, from the team's signing secret."""
    header = got.header("x-fasthook-signature") or ""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    expected = hmac.new(
        secret.encode(), f"{parts.get('t')}.".encode() + got.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(parts.get("v1", ""), expected)


async def pipeline(api, receiver_url: str, name: str) -> tuple[dict, dict]:
    _, source = await api.call("POST", "/v1/sources", {"name": f"src-{name}"})
    _, destination = await api.call(
        "POST",
        "/v1/destinations",
        {"name": f"des-{name}", "config": {"url": receiver_url + "/hook"}},
    )
    status, connection = await api.call(
        "POST",
        "/v1/connections",
        {"name": f"con-{name}", "source_id": source["id"], "destination_id": destination["id"]},
    )
    assert status == 201, connection
    return source, connection


async def send(source: dict, n: int) -> None:
    url = source["url"] + "/status"

    async def accepted(i: int):
        answer = await send_raw(url, "POST", FORM, f"n={i}".encode())
        return answer if answer.status == 200 else None

    for i in range(n):
        await eventually(lambda i=i: accepted(i), 10, "the source served")


async def issues_of(api, trigger_id: str) -> list[dict]:
    status, page = await api.call("GET", f"/v1/issues?issue_trigger_id={trigger_id}")
    assert status == 200, page
    return page["models"]


async def test_issue_opens_notifies_updates_resolves_and_replays(stack):
    running, switch = stack
    api, receiver = running.api, running.receiver
    pager = await Receiver().start()
    slack = await Receiver().start()
    try:
        source, connection = await pipeline(api, receiver.url, "flaky")
        status, trigger = await api.call(
            "POST",
            "/v1/issue-triggers",
            {
                "name": "flaky deliveries",
                "type": "delivery",
                "configs": {
                    "connections": [connection["id"]],
                    "strategy": "final_attempt",
                    "resolve_after_ms": 3_000,
                    "escalate_at": [1000],
                },
                "channels": {
                    "webhook": {"url": pager.url + "/notify"},
                    "slack": {"url": slack.url + "/services/T/B/X"},
                },
            },
        )
        assert status == 201, trigger
        _, team = await api.call("GET", "/v1/team")
        secret = team["signing_secret"]["current"]

        await send(source, 3)
        [opened] = await pager.wait_for(1, 60)
        assert verified(opened, secret)
        body = json.loads(opened.body)
        assert body["type"] == "issue.opened"
        issue = body["issue"]
        assert issue["type"] == "delivery" and issue["status"] == "OPENED"
        assert issue["connection_id"] == connection["id"]
        assert issue["aggregation_keys"] == {"response_status": 500}
        assert opened.header("x-fasthook-event-id")  # an event: visible, retryable
        [posted] = await slack.wait_for(1, 60)  # Slack's incoming-webhook payload
        assert issue["id"] in json.loads(posted.body)["text"]
        assert posted.path_qs == "/services/T/B/X"

        # Repeats update the same issue.
        await send(source, 2)

        async def counted():
            found = await issues_of(api, trigger["id"])
            return found if found and found[0]["count"] >= 5 else None

        [seen] = await eventually(counted, 60, "the issue counted five failures")
        assert seen["id"] == issue["id"] and seen["count"] == 5
        assert len(seen["sample_event_ids"]) == 5
        status, one = await api.call("GET", f"/v1/issues/{issue['id']}")
        assert status == 200 and one["events_query"]["status"] == "FAILED"

        # The notification is an event of the trigger's channel connection.
        channel = trigger["channels"]["webhook"]["connection_id"]

        async def notification_events():
            _, page = await api.call("GET", f"/v1/events?connection_id={channel}")
            return page["models"] if page["count"] >= 1 else None

        [note] = await eventually(notification_events, 30, "the notification listed")
        assert note["status"] == "SUCCESSFUL"

        failed = set(seen["sample_event_ids"])
        # The receiver recovers: a success, then the quiet time, then resolved.
        switch.down = False
        await send(source, 1)
        resolved = await pager.wait_for(2, 60)
        body = json.loads(resolved[1].body)
        assert body["type"] == "issue.resolved" and verified(resolved[1], secret)
        assert body["issue"]["id"] == issue["id"] and body["issue"]["resolved_at"]
        [done] = await eventually(
            lambda: _status(api, issue["id"], "RESOLVED"), 30, "the issue resolved in the API"
        )
        assert done["count"] == 5
        status, _ = await api.call("PUT", f"/v1/issues/{issue['id']}", {"status": "OPENED"})
        assert status == 409  # resolved stays resolved: a new failure opens a new issue
        status, problem = await api.call("PUT", f"/v1/issues/{issue['id']}", {"status": "x"})
        assert status == 422 and problem["errors"][0]["path"] == "status"

        # Replay: exactly the five events that stayed FAILED, now delivered.
        before = len(receiver.received)
        status, job = await api.call("POST", f"/v1/issues/{issue['id']}/replay")
        assert status == 202 and job["estimated_count"] == 5, job
        await receiver.wait_for(before + 5, 60)
        again = {got.header("x-fasthook-event-id") for got in receiver.received[before:]}
        assert again == failed

        async def all_delivered():
            _, page = await api.call(
                "GET", f"/v1/events?connection_id={connection['id']}&status=SUCCESSFUL"
            )
            return page if page["count"] == 6 else None

        await eventually(all_delivered, 60, "every event delivered")
    finally:
        await pager.stop()
        await slack.stop()


async def _status(api, issue_id: str, status: str):
    _, issue = await api.call("GET", f"/v1/issues/{issue_id}")
    return [issue] if issue.get("status") == status else None
