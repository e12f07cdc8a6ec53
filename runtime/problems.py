"""HTTP errors as application/problem+json, for every service that answers people.

Handlers raise an `HttpError` subclass; the `problems` middleware renders it (and aiohttp's own
HTTP errors, and anything unexpected as a logged 500) as `{type, title, status, detail,
errors: [{path, message}]}`.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from schemas.errors import FastHookError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


class HttpError(FastHookError):
    status = 500
    title = "Internal Server Error"

    def __init__(
        self, detail: str | None = None, errors: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []


class BadRequest(HttpError):
    status, title = 400, "Bad Request"


class Unauthorized(HttpError):
    status, title = 401, "Unauthorized"


class Forbidden(HttpError):
    status, title = 403, "Forbidden"


class NotFound(HttpError):
    status, title = 404, "Not Found"


class Conflict(HttpError):
    status, title = 409, "Conflict"


class Unprocessable(HttpError):
    status, title = 422, "Unprocessable Entity"


class Unavailable(HttpError):
    status, title = 503, "Service Unavailable"


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"path": path, "message": message} for path, message in errors or []],
    }
    return web.Response(status=status, body=json.dumps(body), content_type=PROBLEM, headers=headers)


def problems_middleware(unavailable: tuple[type[Exception], ...] = ()) -> Middleware:
    """The middleware; exceptions in `unavailable` (a backend that failed) answer 503."""

    @web.middleware
    async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except HttpError as exc:
            return problem_response(exc.status, exc.title, exc.detail, exc.errors)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            # Keep what the error means (a 405's Allow), not its body's framing.
            kept = {
                k: v
                for k, v in exc.headers.items()
                if k.lower() not in ("content-type", "content-length")
            }
            return problem_response(
                exc.status, exc.reason, exc.text if exc.text != exc.reason else None, headers=kept
            )
        except unavailable:
            log.exception("backend failed", extra={"path": request.path})
            return problem_response(
                503, "Service Unavailable", "a backend failed; retry", headers={"Retry-After": "1"}
            )
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return problem_response(500, "Internal Server Error")

    return problems
