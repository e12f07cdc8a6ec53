"""GET /v1/teams: the teams a key serves, answered without x-team-id (a client such as the
console offers the choice from it); in the OpenAPI document."""

from __future__ import annotations

from api.admin import admin_session
from tests.support.poll import eventually


async def test_teams_lists_the_keys_teams_without_choosing_one(api, settings):
    async with admin_session(settings) as admin:
        other = await admin.create_team("zeta")
        key, _ = await admin.create_key("both", [api.team["id"], other["id"]])

    async def listed():
        status, body = await api.call("GET", "/v1/teams", key=key)
        return body if status == 200 else None

    body = await eventually(listed, 5, "the new key seen")
    assert [t["id"] for t in body["models"]] == [api.team["id"], other["id"]]  # by name
    assert body["count"] == 2 and set(body["models"][0]) == {"id", "name", "created_at"}
    # The same key elsewhere must still choose a team.
    status, _ = await api.call("GET", "/v1/sources", key=key)
    assert status == 400
    # A team named must be one the key serves; a one-team key lists its own only.
    status, _ = await api.call("GET", "/v1/teams", team_id=other["id"])
    assert status == 403
    status, body = await api.call("GET", "/v1/teams")
    assert status == 200 and [t["name"] for t in body["models"]] == ["acme"]
    status, _ = await api.call("GET", "/v1/teams", headers={})
    assert status == 401


async def test_teams_route_is_documented(api):
    async with api.http.get(api.url + "/v1/openapi.json") as response:
        document = await response.json()
    # A team named must be one the key serves (an empty name is none): documented.
    assert set(document["paths"]["/v1/teams"]["get"]["responses"]) == {"200", "401", "403"}
    status, body = await api.call("GET", "/v1/teams", headers={**api.headers(), "x-team-id": ""})
    assert status == 403, body
