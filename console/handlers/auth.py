"""Sign-in with an API key, team choice, sign-out."""

from __future__ import annotations

from aiohttp import web

from console.errors import ApiError
from console.keys import CLIENT, SEALER, SESSION
from console.pages import redirect, render
from console.session import COOKIE, Session, new_session


def set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    sealer = request.app[SEALER]
    response.set_cookie(
        COOKIE,
        sealer.seal(session),
        max_age=sealer.max_age_s,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )


async def signin_page(request: web.Request) -> web.Response:
    return render(request, "signin.html", {"error": None})


async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    key = str(form.get("key", "")).strip()
    if not key:
        return render(request, "signin.html", {"error": "Paste an API key (fhp_…)."})
    try:
        teams = await request.app[CLIENT].call(key, None, "GET", "/v1/teams")
    except ApiError as exc:
        message = "That key is not valid (unknown or revoked)." if exc.status == 401 else exc.detail
        return render(request, "signin.html", {"error": message})
    found = [(t["id"], t["name"]) for t in teams["models"]]
    if not found:
        return render(request, "signin.html", {"error": "That key serves no team."})
    response = web.HTTPSeeOther("/events")
    set_cookie(request, response, new_session(key, found))
    raise response


async def signout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(COOKIE, path="/")
    raise response


async def switch_team(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        session = request[SESSION].with_team(str(form.get("team_id", "")))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    response = web.HTTPSeeOther("/events")
    set_cookie(request, response, session)
    raise response


async def home(request: web.Request) -> web.StreamResponse:
    return redirect(request, "/events")
