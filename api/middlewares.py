"""Problem responses for every error, and API-key authentication for /v1."""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from api.entities import hash_key
from api.errors import ApiError, BadRequest, Forbidden, Unauthorized
from api.keys import KEY_ID, TEAM_ID, VIEW

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/openapi.json"})
PROBLEM = "application/problem+json"


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
    except ApiError as exc:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Keep what the exception says in headers (a 405's Allow), not its plain-text body.
        kept = {k: v for k, v in exc.headers.items()
                if k.lower() not in ("content-type", "content-length")}
        return problem_response(exc.status, exc.reason, exc.text if exc.text != exc.reason
                                else None, headers=kept)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return problem_response(500, "Internal Server Error")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or not request.path.startswith("/v1"):
        return await handler(request)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send an API key as `Authorization: Bearer fhp_…`")
    view = request.app[VIEW]
    api_key = view.key_by_hash(hash_key(key.strip()))
    if api_key is None or api_key.get("revoked_at"):
        raise Unauthorized("the API key is not valid")
    teams = api_key["team_ids"]
    wanted = request.headers.get("x-team-id")
    if wanted is None:
        if len(teams) != 1:
            raise BadRequest("this key serves several teams: choose one with x-team-id")
        wanted = teams[0]
    if wanted not in teams or view.get("team", wanted) is None:
        raise Forbidden(f"this key does not serve team {wanted}")
    request[TEAM_ID] = wanted
    request[KEY_ID] = api_key["id"]
    return await handler(request)
