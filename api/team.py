"""The current team and its destination signing secret."""

from __future__ import annotations

from aiohttp import web

from api.app_keys import BOX, KEY_TEAMS, SETTINGS, STORE, TEAM_ID, VIEW
from api.entities import rotate_signing_secret, team_view
from api.errors import NotFound
from api.models import TeamOut, TeamSummary
from api.view import Entity


def _team(request: web.Request) -> Entity:
    held = request.app[VIEW].get("team", request[TEAM_ID])
    if held is None:
        raise NotFound(f"no team {request[TEAM_ID]}")
    return held.entity


async def get_team(request: web.Request) -> web.Response:
    view = team_view(_team(request), request.app[BOX])
    return web.json_response(TeamOut.model_validate(view).model_dump(mode="json"))


async def rotate_secret(request: web.Request) -> web.Response:
    app = request.app
    team = rotate_signing_secret(_team(request), app[BOX], app[SETTINGS].signing_secret_grace_s)
    await app[STORE].put("team", team)
    view = team_view(team, app[BOX])
    return web.json_response(TeamOut.model_validate(view).model_dump(mode="json"))


async def list_teams(request: web.Request) -> web.Response:
    """The teams the caller's key serves (no x-team-id needed): what a client offers to choose
    from. Names only: a team's secrets are read with the team chosen."""
    view = request.app[VIEW]
    teams = [
        held.entity
        for team_id in request[KEY_TEAMS]
        if (held := view.get("team", team_id)) is not None
    ]
    models = [
        TeamSummary.model_validate(
            {"id": t["id"], "name": t["name"], "created_at": t["created_at"]}
        ).model_dump(mode="json")
        for t in sorted(teams, key=lambda t: t["name"])
    ]
    return web.json_response({"models": models, "count": len(models)})
