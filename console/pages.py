"""What every handler uses: the API as the signed-in user, and rendering with the page's
common context (the session's team, its CSRF token)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from console.keys import CLIENT, SESSION


async def api(
    request: web.Request,
    method: str,
    path: str,
    params: Mapping[str, str] | None = None,
    json: Any = None,
) -> Any:
    session = request[SESSION]
    return await request.app[CLIENT].call(session.key, session.team_id, method, path, params, json)


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    session = request.get(SESSION)
    return aiohttp_jinja2.render_template(
        template,
        request,
        {
            "session": session,
            "csrf": session.csrf if session else "",
            "path": request.path,
            **context,
        },
        status=status,
    )


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def redirect(request: web.Request, location: str) -> web.Response:
    """After a POST: a 303 for a form, an HX-Redirect for htmx (which would swap a 303's page)."""
    if is_htmx(request):
        return web.Response(status=204, headers={"HX-Redirect": location})
    raise web.HTTPSeeOther(location)


async def names(request: web.Request, kind: str) -> dict[str, str]:
    """id → name of the team's sources / destinations / connections, for readable lists."""
    found: dict[str, str] = {}
    params: dict[str, str] = {"limit": "250"}
    while True:
        page = await api(request, "GET", f"/v1/{kind}", params)
        found.update({m["id"]: m["name"] for m in page["models"]})
        cursor = page["pagination"]["next"]
        if not cursor or len(found) >= 2000:
            return found
        params = {"limit": "250", "next": cursor}
