"""The console's session over plain HTTP against the real API: sign-in sets an HttpOnly,
SameSite=Strict cookie holding no readable key; every state-changing request needs this
session's CSRF token and a same-origin Origin; signed-out pages send to sign-in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from api.admin import admin_session
from tests.support.api import RunningApi, start_api, stop_api
from tests.support.console import RunningConsole, running_console
from tests.support.poll import eventually


@pytest.fixture
async def console(settings) -> AsyncIterator[tuple[RunningApi, RunningConsole]]:
    api = await start_api(settings)
    try:
        async with running_console(api.settings) as running:
            yield api, running
    finally:
        await stop_api(api)


async def test_sign_in_cookie_csrf_and_origin(console):
    api, running = console
    _, source = await api.call("POST", "/v1/sources", {"name": "sec-source"})
    _, destination = await api.call(
        "POST",
        "/v1/destinations",
        {"name": "sec-dest", "config": {"url": "http://127.0.0.1:9/hook"}},
    )
    _, connection = await api.call(
        "POST",
        "/v1/connections",
        {"name": "sec-conn", "source_id": source["id"], "destination_id": destination["id"]},
    )
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(running.url + "/connections", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/signin"
        async with http.post(running.url + "/signin", data={"key": "fhp_wrong"}) as r:
            assert "not valid" in await r.text() and "Set-Cookie" not in r.headers
        async with http.post(
            running.url + "/signin", data={"key": api.key}, allow_redirects=False
        ) as r:
            assert r.status == 303 and r.headers["Location"] == "/events"
            cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert api.key not in cookie and api.key[4:20] not in cookie
        async with http.get(running.url + "/connections") as r:
            page = await r.text()
            assert r.status == 200 and "sec-conn" in page
            assert "script-src" not in r.headers["Content-Security-Policy"]  # default-src self
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY"
        assert api.key not in page
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        pause = f"{running.url}/connections/{connection['id']}/pause"
        async with http.post(pause, data={}) as r:
            assert r.status == 403 and "CSRF" in await r.text()
        async with http.post(pause, data={"csrf": "forged"}) as r:
            assert r.status == 403
        async with http.post(
            pause, data={"csrf": token}, headers={"Origin": "http://evil.example"}
        ) as r:
            assert r.status == 403 and "another site" in await r.text()
        async with http.post(
            pause, data={"csrf": token}, headers={"Origin": running.url}, allow_redirects=False
        ) as r:
            assert r.status == 303, await r.text()

        async def paused() -> bool:
            _, body = await api.call("GET", f"/v1/connections/{connection['id']}")
            return body["status"] == "paused"

        await eventually(paused, 10, "the connection paused")
        # htmx sends the token as a header.
        async with http.post(
            f"{running.url}/connections/{connection['id']}/unpause",
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        ) as r:
            assert r.status == 204 and r.headers["HX-Redirect"] == "/connections"
        async with http.post(
            running.url + "/signout", data={"csrf": token}, allow_redirects=False
        ) as r:
            assert r.status == 303 and 'fasthook_console=""' in r.headers["Set-Cookie"]


async def test_a_key_of_two_teams_chooses_one_per_page(console, settings):
    api, running = console
    async with admin_session(settings) as admin:
        other = await admin.create_team("zeta")
        key, _ = await admin.create_key("both", [api.team["id"], other["id"]])

    async def key_known() -> bool:  # the API's view follows the config topic
        return (await api.call("GET", "/v1/teams", key=key))[0] == 200

    await eventually(key_known, 20, "the new key seen by the API")
    _, mine = await api.call("POST", "/v1/sources", {"name": "acme-only"})
    _, theirs = await api.call(
        "POST", "/v1/sources", {"name": "zeta-only"}, key=key, team_id=other["id"]
    )
    assert mine["team_id"] == api.team["id"] and theirs["team_id"] == other["id"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:

        async def signed_in() -> bool:
            async with http.post(
                running.url + "/signin", data={"key": key}, allow_redirects=False
            ) as r:
                return r.status == 303

        await eventually(signed_in, 10, "the new key seen by the API")
        async with http.get(running.url + "/connections") as r:
            page = await r.text()
        assert "acme-only" in page and "zeta-only" not in page  # the first team by name
        assert 'name="team_id"' in page and ">zeta</option>" in page
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        async with http.post(
            running.url + "/team",
            data={"csrf": token, "team_id": other["id"]},
            allow_redirects=False,
        ) as r:
            assert r.status == 303
        async with http.get(running.url + "/connections") as r:
            page = await r.text()
        assert "zeta-only" in page and "acme-only" not in page
        async with http.post(
            running.url + "/team", data={"csrf": token, "team_id": "tm_nobody"}
        ) as r:
            assert r.status == 400
