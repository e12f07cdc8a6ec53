"""`fasthook login` against the real API: profiles in a 0600 file, the current one used by
default, `--profile` choosing another, the environment overriding both, a wrong key refused
before anything is saved."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator

import pytest

from api.admin import admin_session
from tests.support.api import RunningApi, make_team, start_api, stop_api
from tests.support.cli import Cli


@pytest.fixture
async def api(settings) -> AsyncIterator[RunningApi]:
    running = await start_api(settings)
    yield running
    await stop_api(running)


async def test_login_profiles_and_overrides(api: RunningApi, settings, tmp_path):
    async with admin_session(settings) as admin:
        other_team, other_key = await make_team(admin, "globex")
    config = tmp_path / "home" / "fasthook" / "config.json"
    fasthook = Cli(api.url, api.key, config)
    # Only the config file: the profile, not the environment, tells where the API is.
    plain = {"FASTHOOK_CONFIG": str(config)}

    nothing = await fasthook("team", env=plain)
    assert nothing.code == 1 and "fasthook login" in nothing.stderr

    wrong = await fasthook("login", "--api", api.url, "--key", "fhp_wrong", env=plain)
    assert wrong.code == 1 and "401" in wrong.stderr and not config.exists()

    first = await fasthook.process(
        "login", "--api", api.url + "/", "--key", api.key, "--profile", "acme", env=plain
    )
    assert first.code == 0, first.stderr
    assert api.team["id"] in first.stderr and first.stdout == ""
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o700
    second = await fasthook(
        "login", "--api", api.url, "--profile", "globex", env=plain, stdin=f"{other_key}\n"
    )
    assert second.code == 2 and not json.loads(config.read_text())["profiles"].get("globex")
    second = await fasthook(
        "login", "--api", api.url, "--key", other_key, "--profile", "globex", env=plain
    )
    assert second.code == 0, second.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600

    profiles = (await fasthook("profiles", "--output", "json", env=plain)).lines()
    assert {(p["name"], p["current"]) for p in profiles} == {("acme", False), ("globex", True)}
    assert all(api.key not in json.dumps(p) and other_key not in json.dumps(p) for p in profiles)
    assert json.loads(config.read_text())["profiles"]["acme"]["api_url"] == api.url

    # The last login is current; --profile (or FASTHOOK_PROFILE) picks another.
    assert (await fasthook("team", "-o", "json", env=plain)).json()["id"] == other_team["id"]
    assert (await fasthook("--profile", "acme", "team", "-o", "json", env=plain)).json()[
        "id"
    ] == api.team["id"]
    assert (await fasthook("team", "-o", "json", env={**plain, "FASTHOOK_PROFILE": "acme"})).json()[
        "id"
    ] == api.team["id"]
    assert (await fasthook("--profile", "nope", "team", env=plain)).code == 1
    # The environment overrides the profile's key.
    assert (
        await fasthook("team", "-o", "json", env={**plain, "FASTHOOK_API_KEY": api.key})
    ).json()["id"] == api.team["id"]
    as_process = await fasthook.process(
        "--profile",
        "acme",
        "sources",
        "list",
        "-o",
        "json",
        env={"FASTHOOK_CONFIG": str(config), "PATH": os.environ.get("PATH", "")},
    )
    assert as_process.code == 0, as_process.stderr

    assert (await fasthook("logout", "--profile", "globex", env=plain)).code == 0
    profiles = (await fasthook("profiles", "-o", "json", env=plain)).lines()
    assert [(p["name"], p["current"]) for p in profiles] == [("acme", True)]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
