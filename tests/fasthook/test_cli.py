"""`fasthook teams …` and `fasthook keys …` against the real broker, as an operator runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.support.api import start_api, stop_api
from tests.support.poll import eventually


def fasthook(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FASTHOOK_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "FASTHOOK_TOPIC_NAMESPACE": settings.topic_namespace,
        "FASTHOOK_SECRET_KEY": settings.secret_key,
        "FASTHOOK_LOG_FORMAT": "text",
    }
    return subprocess.run(
        [sys.executable, "-m", "fasthook", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run(settings, *args: str) -> str:
    done = await asyncio.to_thread(fasthook, settings, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_teams_and_keys_lifecycle(settings):
    team_id, name = (await run(settings, "teams", "create", "ops")).split()
    assert team_id.startswith("tm_") and name == "ops"
    assert team_id in await run(settings, "teams", "list")

    key_id, key = (
        await run(settings, "keys", "create", "--team", team_id, "--name", "deploy")
    ).split()
    assert key.startswith("fhp_") and key_id.startswith("key_")
    listing = await run(settings, "keys", "list")
    assert key_id in listing and "active" in listing and key not in listing

    api = await start_api(settings)
    try:
        status, team = await api.call("GET", "/v1/team", key=key)
        assert (status, team["id"]) == (200, team_id)
        await run(settings, "keys", "revoke", key_id)

        async def refused() -> bool:
            return (await api.call("GET", "/v1/team", key=key))[0] == 401

        await eventually(refused, 5, "the revoked key refused")
        assert "revoked" in await run(settings, "keys", "list")
    finally:
        await stop_api(api)


async def test_unknown_team_is_a_clear_error(settings):
    done = await asyncio.to_thread(fasthook, settings, "keys", "create", "--team", "tm_nope")
    assert done.returncode == 1
    assert "no team tm_nope" in done.stderr
