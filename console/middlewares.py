"""Sessions, CSRF and the error pages."""

from __future__ import annotations

import logging

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from console.errors import ApiError, ApiUnreachable, CsrfRejected, SignedOut
from console.keys import SEALER, SESSION
from console.pages import is_htmx
from console.session import COOKIE, CSRF_FIELD, CSRF_HEADER, csrf_ok, same_origin

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/signin", "/healthz", "/readyz"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Scripts and styles from this origin only, nothing inline; no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _signin(request: web.Request) -> web.Response:
    response = web.Response(status=204 if is_htmx(request) else 303)
    response.headers["HX-Redirect" if is_htmx(request) else "Location"] = "/signin"
    response.del_cookie(COOKIE, path="/")
    return response


def _error_page(request: web.Request, status: int, title: str, detail: str) -> web.Response:
    template = "_error.html" if is_htmx(request) else "error.html"
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "session": request.get(SESSION),
            "csrf": "",
            "path": request.path,
            "title": title,
            "detail": detail,
            "status": status,
        },
        status=status,
    )
    if is_htmx(request):
        # htmx swaps only 2xx by default: show the error where the result would have gone.
        response.set_status(200)
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except SignedOut:
        response = _signin(request)
    except ApiError as exc:
        if exc.status == 401:  # the key was revoked since sign-in
            response = _signin(request)
        else:
            response = _error_page(request, exc.status, "The API said no", exc.detail)
    except ApiUnreachable as exc:
        log.warning("api unreachable", extra={"error": str(exc)})
        response = _error_page(
            request,
            503,
            "The API is not reachable",
            "The console could not reach the FastHook API; try again in a moment.",
        )
    except CsrfRejected as exc:
        response = _error_page(request, 403, "Refused", str(exc))
    except web.HTTPNotFound:
        response = _error_page(request, 404, "Not found", "No such page.")
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in SAFE_METHODS and not same_origin(
        request.headers.get("Origin"), request.host
    ):
        raise CsrfRejected("this form was sent from another site")
    if request.path in OPEN_PATHS or request.path.startswith("/static/"):
        return await handler(request)
    session = request.app[SEALER].open(request.cookies.get(COOKIE))
    if session is None:
        raise SignedOut()
    request[SESSION] = session
    if request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if presented is None:
            form = await request.post()
            value = form.get(CSRF_FIELD)
            presented = value if isinstance(value, str) else None
        if not csrf_ok(session, presented):
            raise CsrfRejected("the form's CSRF token is missing or stale: reload the page")
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    return response
