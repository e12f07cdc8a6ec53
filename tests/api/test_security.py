"""Keys, teams and secrets: every route refuses what it must, and no secret ever leaks."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from api.admin import admin_session
from api.app_keys import KAFKA
from api.routes import OPERATIONS
from tests.api.test_guide import RECEIVER, TWILIO_SOURCE, guide_connection
from tests.support.api import make_team
from tests.support.kafka import read_topic
from tests.support.poll import eventually

ROUTES = [(op.method, op.path) for op in OPERATIONS]


async def some_entities(api) -> dict[str, str]:
    _, source = await api.call("POST", "/v1/sources", TWILIO_SOURCE)
    _, destination = await api.call("POST", "/v1/destinations", RECEIVER)
    _, connection = await api.call(
        "POST", "/v1/connections", guide_connection(source["id"], destination["id"])
    )
    _, triggers = await api.call("GET", "/v1/issue-triggers")  # the team's default one
    return {
        "sources": source["id"],
        "destinations": destination["id"],
        "connections": connection["id"],
        "issue-triggers": triggers["models"][0]["id"],
    }


def concrete(path: str, ids: dict[str, str]) -> str:
    kind = path.split("/")[2]
    return path.replace("{id}", ids.get(kind, "x"))


async def test_every_route_needs_a_valid_key_for_a_served_team(api, settings):
    ids = await some_entities(api)
    async with admin_session(settings) as admin:
        other_team, other_key = await make_team(admin, "other")
        revoked_key, revoked = await admin.create_key("old", [api.team["id"]])
        await admin.revoke_key(revoked["id"])
    # The API's view follows the topic: wait until it saw the revocation.
    await eventually(lambda: _status_is(api, 401, key=revoked_key), 5, "revocation seen")
    await eventually(lambda: _status_is(api, 200, key=other_key), 5, "the other team's key seen")
    for method, path in ROUTES:
        url = concrete(path, ids)
        assert (await api.call(method, url, headers={}))[0] == 401, (method, path)
        assert (await api.call(method, url, headers={"Authorization": "Bearer fhp_nope"}))[
            0
        ] == 401, (method, path)
        status, problem = await api.call(method, url, key=revoked_key)
        assert status == 401 and problem["title"] == "Unauthorized", (method, path)
        status, _ = await api.call(method, url, team_id=other_team["id"])
        assert status == 403, (method, path)
        if "{id}" in path:
            # Another team's key sees no such id: 404, never the entity.
            status, problem = await api.call(
                method, url, key=other_key, json=_body_for(method, path, ids)
            )
            assert status == 404, (method, path, problem)


async def _status_is(api, status: int, key: str) -> bool:
    return (await api.call("GET", "/v1/sources", key=key))[0] == status


def _body_for(method: str, path: str, ids: dict[str, str]):
    if method != "PUT" or path.count("/") != 3:
        return None
    kind = path.split("/")[2]
    return {
        "sources": TWILIO_SOURCE,
        "destinations": RECEIVER,
        "connections": guide_connection("src_x", "des_x"),
        "issue-triggers": {"name": "t", "type": "delivery"},
    }[kind]


SECRETS = {
    "twilio": "twilio-token-5f2d8c1a9b7e4d3c",
    "basic": "basic-password-8c7b6a5d4e3f",
    "hmac": "hmac-secret-1a2b3c4d5e6f7a8b",
    "bearer": "bearer-token-9z8y7x6w5v",
    "apikey": "dest-api-key-4q3w2e1r",
}


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_secrets_are_write_only_and_encrypted_at_rest(api, settings, bootstrap, all_logs):
    sources = [
        {
            "name": "tw",
            "config": {"auth_type": "TWILIO", "auth": {"auth_token": SECRETS["twilio"]}},
        },
        {
            "name": "basic",
            "config": {
                "auth_type": "BASIC_AUTH",
                "auth": {"username": "u", "password": SECRETS["basic"]},
            },
        },
        {
            "name": "hmac",
            "config": {
                "auth_type": "HMAC",
                "auth": {
                    "webhook_secret_key": SECRETS["hmac"],
                    "algorithm": "sha256",
                    "encoding": "hex",
                    "header_key": "x-signature",
                },
            },
        },
    ]
    destinations = [
        {
            "name": "bearer",
            "config": {
                "url": "https://example.com/a",
                "auth_type": "BEARER_TOKEN",
                "auth": {"token": SECRETS["bearer"]},
            },
        },
        {
            "name": "key",
            "config": {
                "url": "https://example.com/b",
                "auth_type": "API_KEY",
                "auth": {"api_key": SECRETS["apikey"], "to": "query"},
            },
        },
    ]
    responses = []
    for body in sources:
        status, created = await api.call("POST", "/v1/sources", body)
        assert status == 201, created
        responses += [
            created,
            (await api.call("GET", f"/v1/sources/{created['id']}"))[1],
            (await api.call("PUT", f"/v1/sources/{created['id']}", body))[1],
        ]
    for body in destinations:
        status, created = await api.call("POST", "/v1/destinations", body)
        assert status == 201, created
        responses.append(created)
    responses += [(await api.call("GET", f"/v1/{kind}"))[1] for kind in ("sources", "destinations")]
    assert "auth_token" not in json.dumps(responses)
    assert responses[0]["config"]["auth"] == {}
    assert responses[3]["config"]["auth"] == {"username": "u"}

    raw = await read_topic(bootstrap, settings.topics.config, raw=True)
    raw_bytes = b"".join((m.value or b"") for m in raw)
    everything = [json.dumps(responses), raw_bytes.decode("latin-1"), all_logs.text]
    for name, secret in SECRETS.items():
        for where, text in zip(("responses", "config topic", "logs"), everything, strict=True):
            assert secret not in text, f"{name} secret in clear in {where}"


async def test_team_signing_secret_rotation_keeps_the_old_one_for_a_grace_period(api):
    status, team = await api.call("GET", "/v1/team")
    assert status == 200 and team["id"] == api.team["id"]
    first = team["signing_secret"]["current"]
    assert first.startswith("whsec_") and team["signing_secret"]["previous"] is None
    status, rotated = await api.call("POST", "/v1/team/signing-secret/rotate")
    assert status == 200
    assert rotated["signing_secret"]["previous"] == first
    assert rotated["signing_secret"]["current"] not in (first, None)
    assert (
        rotated["signing_secret"]["previous_valid_until"] > rotated["signing_secret"]["rotated_at"]
    )
    assert (await api.call("GET", "/v1/team"))[1] == rotated
    # `whsec_` + standard base64 of 32 bytes: what Standard Webhooks libraries read as is.
    key = base64.b64decode(
        rotated["signing_secret"]["current"].removeprefix("whsec_"), validate=True
    )
    assert len(key) == 32


async def test_a_key_made_by_another_process_works_at_once(api, settings):
    """`fasthook admin` writes the key from its own process: the API's view reads it a little
    later, and a key it does not know yet is looked up again once the view has synced."""
    fetcher = api.app[KAFKA].follower._consumer._fetcher
    loop = asyncio.get_running_loop()

    async def resting() -> bool:
        return any(end - loop.time() > 0.3 for end in fetcher.holding.values())

    async with admin_session(settings) as admin:
        for n in range(3):
            # The API's follower rests between fetches once the topic is quiet (a while longer
            # than the writes below take): the key is made while it rests.
            await eventually(resting, 10, "the API's config follower resting")
            team = await admin.create_team(f"at-once-{n}")
            key, _ = await admin.create_key(f"at once {n}", [team["id"]])
            status, found = await api.call("GET", "/v1/team", key=key)
            assert (status, found["id"]) == (200, team["id"]), found
    status, problem = await api.call("GET", "/v1/team", key="fhp_never_made")
    assert status == 401 and "not valid" in problem["detail"]


async def test_a_key_serving_several_teams_needs_x_team_id(api, settings):
    async with admin_session(settings) as admin:
        second = await admin.create_team("second")
        key, _ = await admin.create_key("both", [api.team["id"], second["id"]])
    await eventually(lambda: _status_is(api, 400, key=key), 5, "new key seen")
    status, problem = await api.call("GET", "/v1/sources", key=key)
    assert status == 400 and "x-team-id" in problem["detail"]
    _, created = await api.call("POST", "/v1/sources", TWILIO_SOURCE, key=key, team_id=second["id"])
    assert created["team_id"] == second["id"]
    _, first_list = await api.call("GET", "/v1/sources", key=key, team_id=api.team["id"])
    assert created["id"] not in [s["id"] for s in first_list["models"]]
