"""Every gateway verb of `fasthook` against the real API of a whole running stack, its
`--output json` parsed, its exit code asserted (0 ok, 1 API error, 2 usage, 4 not found)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from runtime.settings import Settings
from tests.support.cli import Cli
from tests.support.http import send_raw
from tests.support.poll import eventually
from tests.support.receiver import Receiver
from tests.support.stack import Stack, running_stack, stack_settings


@pytest.fixture
def settings(settings: Settings, engine) -> Settings:
    return stack_settings(settings, engine)


@pytest.fixture
async def stack(settings: Settings, engine, tmp_path) -> AsyncIterator[Stack]:
    async with running_stack(settings, engine, tmp_path, Receiver()) as running:
        yield running


@pytest.fixture
def fasthook(stack: Stack, tmp_path) -> Cli:
    return Cli(stack.api.url, stack.api.key, tmp_path / "config.json")


async def test_configuration_verbs(stack: Stack, fasthook: Cli):
    team = (await fasthook("team", "--output", "json")).json()
    assert team["id"] == stack.api.team["id"] and team["signing_secret"]["current"]

    source = (
        await fasthook(
            "sources",
            "create",
            "--name",
            "sms",
            "--allowed-methods",
            "POST,GET",
            "--output",
            "json",
        )
    ).json()
    assert source["id"].startswith("src_")
    assert source["config"]["allowed_http_methods"] == ["POST", "GET"]
    listed = (await fasthook("sources", "list", "--output", "json")).lines()
    assert source["id"] in {s["id"] for s in listed}
    # Shell completion offers the API's names for an ID|NAME argument.
    completed = await fasthook.process(
        env={
            **fasthook.env(),
            "_FASTHOOK_COMPLETE": "bash_complete",
            "COMP_WORDS": "fasthook sources get s",
            "COMP_CWORD": "3",
        }
    )
    assert completed.code == 0 and "plain,sms" in completed.stdout.splitlines()
    by_name = (await fasthook("sources", "get", "sms", "--output", "json")).json()
    assert by_name == source
    updated = (
        await fasthook(
            "sources", "update", "sms", "--description", "Twilio SMS", "--output", "json"
        )
    ).json()
    assert updated["description"] == "Twilio SMS"
    assert updated["config"]["allowed_http_methods"] == ["POST", "GET"]  # the rest stays
    assert (await fasthook("sources", "disable", source["id"], "-o", "json")).json()[
        "status"
    ] == "disabled"
    assert (await fasthook("sources", "enable", "sms", "-o", "json")).json()["status"] == "enabled"

    destination = (
        await fasthook(
            "destinations",
            "create",
            "--name",
            "app",
            "--url",
            stack.receiver.url + "/hook",
            "--auth-type",
            "FASTHOOK_SIGNATURE",
            "--data",
            '{"description": "from --data"}',
            "--output",
            "json",
        )
    ).json()
    assert destination["config"]["url"] == stack.receiver.url + "/hook"
    assert destination["description"] == "from --data"
    for action, status in (("disable", "disabled"), ("enable", "enabled")):
        assert (await fasthook("destinations", action, "app", "-o", "json")).json()[
            "status"
        ] == status

    rules = json.dumps([{"type": "retry", "strategy": "linear", "count": 2, "interval": 1000}])
    connection = (
        await fasthook(
            "connections",
            "create",
            "--name",
            "sms-to-app",
            "--source",
            "sms",
            "--destination",
            "app",
            "--rules",
            rules,
            "--output",
            "json",
        )
    ).json()
    assert (connection["source_id"], connection["destination_id"]) == (
        source["id"],
        destination["id"],
    )
    for action, status in (
        ("pause", "paused"),
        ("unpause", "enabled"),
        ("disable", "disabled"),
        ("enable", "enabled"),
    ):
        done = await fasthook("connections", action, connection["id"], "--output", "json")
        assert done.json()["status"] == status, action
    paused = (await fasthook("connections", "pause", "sms-to-app", "-o", "json")).json()
    assert paused["status"] == "paused"
    # An update of a paused connection keeps it paused and its rules unchanged.
    renamed = (
        await fasthook("connections", "update", "sms-to-app", "--name", "sms-app", "-o", "json")
    ).json()
    assert (renamed["name"], renamed["status"], renamed["rules"]) == (
        "sms-app",
        "paused",
        connection["rules"],
    )

    # Table output for people: the name is on stdout, nothing on stderr.
    table = await fasthook("connections", "list")
    assert table.code == 0 and "sms-app" in table.stdout and "SOURCE_ID" in table.stdout

    # Errors: one readable line naming the field, and the contract's exit codes.
    bad = await fasthook("destinations", "create", "--name", "bad", "--url", "not a url")
    assert bad.code == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "422" in bad.stderr and "config.url" in bad.stderr
    duplicate = await fasthook("sources", "create", "--name", "sms")
    assert duplicate.code == 1 and "409" in duplicate.stderr
    missing = await fasthook("sources", "get", "src_01H00000000000000000000000")
    assert missing.code == 4 and missing.stderr.startswith("fasthook: 404")
    assert (await fasthook("destinations", "get", "no-such-name")).code == 4
    assert (await fasthook("sources", "list", "--output", "yaml")).code == 2
    assert (await fasthook("sources", "frobnicate")).code == 2
    assert (await fasthook("connections", "create", "--rules", "[nope")).code == 2

    # Deleting a source deletes its connections.
    assert (await fasthook("destinations", "delete", "app", "-o", "json")).json() == {
        "id": destination["id"]
    }
    assert (await fasthook("connections", "get", connection["id"])).code == 4
    assert (await fasthook("sources", "delete", source["id"])).code == 0
    assert (await fasthook("sources", "get", source["id"])).code == 4

    # A few as real processes: what a shell runs.
    listing = await fasthook.process("sources", "list", "--output", "json")
    assert listing.code == 0 and source["id"] not in listing.stdout
    gone = await fasthook.process("events", "get", "evt_01H00000000000000000000000")
    assert gone.code == 4 and gone.stdout == "" and "404" in gone.stderr
    usage = await fasthook.process("events", "list", "--status", "LOST")
    assert usage.code == 2 and "LOST" in usage.stderr


async def test_traffic_verbs_retry_and_replay(stack: Stack, fasthook: Cli):
    await fasthook("sources", "create", "--name", "sms")
    await fasthook("destinations", "create", "--name", "app", "--url", stack.receiver.url + "/hook")
    await fasthook(
        "connections", "create", "--name", "sms-to-app", "--source", "sms", "--destination", "app"
    )
    only_delivered = json.dumps(
        [{"type": "filter", "body": {"MessageStatus": {"$eq": "delivered"}}}]
    )
    await fasthook(
        "connections",
        "create",
        "--name",
        "delivered-only",
        "--source",
        "sms",
        "--destination",
        "app",
        "--rules",
        only_delivered,
    )
    source = (await fasthook("sources", "get", "sms", "-o", "json")).json()

    async def accepted():
        answer = await send_raw(
            source["url"] + "/twilio/status?x=1",
            "POST",
            [("Content-Type", "application/x-www-form-urlencoded")],
            b"MessageStatus=sent",
        )
        return answer if answer.status == 200 else None

    sent = await eventually(accepted, 10, "the source served")
    request_id = sent.header("x-fasthook-request-id")

    async def listed(*args: str, count: int = 1):
        models = (await fasthook(*args, "--output", "json")).lines()
        return models if len(models) >= count else None

    [request] = await eventually(
        lambda: listed("requests", "list", "--source", "sms", "--status", "accepted"),
        30,
        "request listed",
    )
    assert request["id"] == request_id
    detail = (await fasthook("requests", "get", request_id, "-o", "json")).json()
    assert detail["data"]["path"] == "/twilio/status" and detail["data"]["query"] == "x=1"
    raw = await fasthook.process("requests", "raw-body", request_id)
    assert raw.code == 0 and raw.stdout == "MessageStatus=sent"
    [ignored] = await eventually(
        lambda: listed("ignored-events", "list", "--connection", "delivered-only"),
        30,
        "the filtered request",
    )
    assert (ignored["request_id"], ignored["cause"]) == (request_id, "FILTERED")
    assert (await fasthook("ignored-events", "get", ignored["id"], "-o", "json")).json()[
        "cause"
    ] == "FILTERED"

    async def delivered():
        found = await listed("events", "list", "--request", request_id, "--status", "successful")
        return found

    [event] = await eventually(delivered, 30, "the event delivered")
    assert (await fasthook("events", "get", event["id"], "-o", "json")).json()["id"] == event["id"]
    [attempt] = await eventually(
        lambda: listed("attempts", "list", "--event", event["id"]), 30, "the attempt recorded"
    )
    assert attempt["trigger"] == "INITIAL" and attempt["status"] == "SUCCESSFUL"
    assert (await fasthook("attempts", "get", attempt["id"], "-o", "json")).json()[
        "event_id"
    ] == event["id"]
    # --filter passes any API filter by name; --q searches.
    assert await listed("events", "list", "--filter", f"request_id={request_id}")
    assert await listed("requests", "list", "--q", request_id)

    retried = await fasthook("events", "retry", event["id"], "-o", "json")
    assert retried.code == 0 and "queued" in retried.stderr
    attempts = await eventually(
        lambda: listed("attempts", "list", "--event", event["id"], count=2),
        30,
        "the manual attempt",
    )
    assert {a["trigger"] for a in attempts} == {"INITIAL", "MANUAL"}

    replayed = await fasthook("requests", "replay", request_id, "--connection", "sms-to-app")
    assert replayed.code == 0, replayed.stderr
    await eventually(
        lambda: listed("events", "list", "--source", "sms", count=2), 30, "the replay's event"
    )
    replay_all = await fasthook.process("requests", "replay", request_id, "--output", "json")
    assert replay_all.code == 0 and json.loads(replay_all.stdout)

    # Replaying every request of the source as one bulk job (no terminal: --yes).
    before = len((await fasthook("events", "list", "--source", "sms", "-o", "json")).lines())
    bulk = await fasthook.process(
        "bulk",
        "retry",
        "requests",
        "--filter",
        "source_id=" + source["id"],
        "--yes",
        "--output",
        "json",
    )
    assert bulk.code == 0, bulk.stderr
    job = json.loads(bulk.stdout)
    assert job["status"] == "COMPLETED" and job["processed_count"] >= 1
    assert "requests match" in bulk.stderr
    assert (await fasthook("bulk", "get", "requests", job["id"], "-o", "json")).json()["id"] == job[
        "id"
    ]
    await eventually(
        lambda: listed("events", "list", "--source", "sms", count=before + 1),
        30,
        "the bulk replay's events",
    )
    nothing = await fasthook("bulk", "retry", "events", "--filter", "status=HOLD", "--yes")
    assert nothing.code == 0 and "0 events match" in nothing.stderr
    assert (await fasthook("bulk", "retry", "events", "--yes")).code == 2  # no filter at all
    unknown = await fasthook("bulk", "retry", "events", "--filter", "colour=red", "--yes")
    assert unknown.code == 1 and "query.colour" in unknown.stderr

    rotated = (await fasthook("team", "rotate-secret", "-o", "json")).json()
    assert rotated["signing_secret"]["previous"]

    # Unknown ids: 4; a bad filter value the API refuses: 1 with the field named.
    assert (await fasthook("events", "retry", "evt_01H00000000000000000000000")).code == 4
    refused = await fasthook("events", "list", "--response-status", "999")
    assert refused.code == 1 and "response_status" in refused.stderr
