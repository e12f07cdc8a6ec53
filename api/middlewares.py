"""Problem responses for every error, and API-key authentication for /v1."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler
from aiokafka.errors import KafkaError

from api.app_keys import KAFKA, KEY_ID, KEY_TEAMS, TEAM_ID, VIEW
from api.entities import hash_key
from api.errors import BadRequest, Forbidden, Unauthorized, Unavailable
from runtime.problems import problems_middleware

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
# About the key itself: answered without a chosen team, so a client can offer the choice.
KEY_LEVEL_PATHS = frozenset({"/v1/teams"})
problems = problems_middleware()


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/v1"):
        return await handler(request)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send an API key as `Authorization: Bearer fhp_…`")
    view = request.app[VIEW]
    hashed = hash_key(key.strip())
    api_key = view.key_by_hash(hashed)
    if api_key is None:
        # Made a moment ago, perhaps (`fasthook admin`, another API replica): the write reaches
        # this view a little after its maker's answer. Waiters share one sync.
        await _sync_view(request.app)
        api_key = view.key_by_hash(hashed)
    if api_key is None or api_key.get("revoked_at"):
        raise Unauthorized("the API key is not valid")
    teams = api_key["team_ids"]
    request[KEY_ID] = api_key["id"]
    request[KEY_TEAMS] = teams
    wanted = request.headers.get("x-team-id")
    if wanted is None and request.path in KEY_LEVEL_PATHS:
        return await handler(request)
    if wanted is None:
        if len(teams) != 1:
            raise BadRequest("this key serves several teams: choose one with x-team-id")
        wanted = teams[0]
    if wanted not in teams or view.get("team", wanted) is None:
        raise Forbidden(f"this key does not serve team {wanted}")
    request[TEAM_ID] = wanted
    return await handler(request)


async def _sync_view(app: web.Application) -> None:
    try:
        await app[KAFKA].follower.sync_since(int(time.time() * 1000))
    except (TimeoutError, KafkaError):
        raise Unavailable("the API key could not be checked: config log unreachable") from None
