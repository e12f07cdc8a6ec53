"""Problem responses for every error, and who may ask this service anything.

The API in front of this service authenticates the caller and forwards the query, retry and
bulk routes with the caller's team in `x-fasthook-team-id` and the hop credential derived from
FASTHOOK_SECRET_KEY. Only the probes answer without that credential; the team header is
believed only beside it, so whoever else reaches this port (a destination pointed at it, a pod
on its network) gets a 401.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from projections.errors import EngineError
from projections.keys import TEAM_ID
from runtime.problems import Unauthorized, problems_middleware
from runtime.secrets import (
    PROJECTIONS_TOKEN_HEADER,
    TEAM_HEADER,
    is_hop_token,
    projections_tokens,
)

_TEAM = re.compile(r"^[A-Za-z0-9_]{1,100}$")
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})

# A failing engine answers 503 (retry), not 500.
problems = problems_middleware(unavailable=(EngineError,))


def caller_scope(secret_key: str) -> Middleware:
    """The hop credential on every route but the probes, then the team on every /v1 route.
    Raises SettingsError at start when FASTHOOK_SECRET_KEY is not set."""
    accepted = projections_tokens(secret_key)

    @web.middleware
    async def scope(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in PROBES:
            return await handler(request)
        if not is_hop_token(accepted, request.headers.get(PROJECTIONS_TOKEN_HEADER)):
            raise Unauthorized("only the FastHook API may call this service")
        if request.path.startswith("/v1/"):
            team = request.headers.get(TEAM_HEADER, "")
            if not _TEAM.match(team):
                raise Unauthorized(f"send the team as `{TEAM_HEADER}` (set by the API)")
            request[TEAM_ID] = team
        return await handler(request)

    return scope
