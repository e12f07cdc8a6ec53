"""Problem responses for every error, and the team every query is scoped to.

The team comes from `x-fasthook-team-id`, set by the API in front of this service after it
authenticated the caller. This service trusts it, so it must only listen on loopback or a
private network that only the API can reach.
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from projections.errors import EngineError
from projections.keys import TEAM_ID
from runtime.problems import Unauthorized, problems_middleware

log = logging.getLogger(__name__)

TEAM_HEADER = "x-fasthook-team-id"
_TEAM = re.compile(r"^[A-Za-z0-9_]{1,100}$")


# A failing engine answers 503 (retry), not 500.
problems = problems_middleware(unavailable=(EngineError,))


@web.middleware
async def team_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/"):
        team = request.headers.get(TEAM_HEADER, "")
        if not _TEAM.match(team):
            raise Unauthorized(f"send the team as `{TEAM_HEADER}` (set by the API)")
        request[TEAM_ID] = team
    return await handler(request)
