"""Problem responses for every error, and the team every query is scoped to.

The team comes from `x-fasthook-team-id`, set by the API in front of this service after it
authenticated the caller. This service trusts it, so it must only listen on loopback or a
private network that only the API can reach.
"""

from __future__ import annotations

import json
import logging
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from projections.errors import EngineError, HttpError, Unauthorized
from projections.keys import TEAM_ID

log = logging.getLogger(__name__)

TEAM_HEADER = "x-fasthook-team-id"
PROBLEM = "application/problem+json"
_TEAM = re.compile(r"^[A-Za-z0-9_]{1,100}$")


def problem_response(status: int, title: str, detail: str | None = None,
                     errors: list[tuple[str, str]] | None = None,
                     headers: dict[str, str] | None = None) -> web.Response:
    body = {
        "type": "about:blank", "title": title, "status": status, "detail": detail,
        "errors": [{"path": path, "message": message} for path, message in errors or []],
    }
    return web.Response(status=status, body=json.dumps(body), content_type=PROBLEM,
                        headers=headers)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as exc:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kept = {k: v for k, v in exc.headers.items()
                if k.lower() not in ("content-type", "content-length")}
        return problem_response(exc.status, exc.reason,
                                exc.text if exc.text != exc.reason else None, headers=kept)
    except EngineError:
        log.exception("query failed", extra={"path": request.path})
        return problem_response(503, "Service Unavailable", "the query engine failed; retry",
                                headers={"Retry-After": "1"})
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(500, "Internal Server Error")


@web.middleware
async def team_scope(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/v1/"):
        team = request.headers.get(TEAM_HEADER, "")
        if not _TEAM.match(team):
            raise Unauthorized(f"send the team as `{TEAM_HEADER}` (set by the API)")
        request[TEAM_ID] = team
    return await handler(request)
