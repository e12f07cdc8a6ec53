"""The inspector of a request and of an event; retry and replay."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.errors import ApiError
from console.keys import CLIENT, SESSION
from console.pages import api, is_htmx, names, redirect, render
from console.views import body_view, response_class, twilio_glance


async def _body(request: web.Request, request_id: str) -> dict[str, Any]:
    session = request[SESSION]
    raw, content_type = await request.app[CLIENT].raw(
        session.key, session.team_id, f"/v1/requests/{request_id}/raw_body"
    )
    body = body_view(raw, content_type)
    return {
        "body": body,
        "content_type": content_type,
        "size": len(raw),
        "twilio": twilio_glance(body.fields),
    }


async def request_page(request: web.Request) -> web.Response:
    request_id = request.match_info["id"]
    found = await api(request, "GET", f"/v1/requests/{request_id}")
    events = await api(request, "GET", f"/v1/requests/{request_id}/events", {"limit": "100"})
    ignored = await api(
        request, "GET", f"/v1/requests/{request_id}/ignored_events", {"limit": "100"}
    )
    return render(
        request,
        "request.html",
        {
            "request_": found,
            "events": events["models"],
            "ignored": ignored["models"],
            "connections": await names(request, "connections"),
            "sources": await names(request, "sources"),
            **await _body(request, request_id),
        },
    )


async def raw_body(request: web.Request) -> web.Response:
    """The exact bytes, downloaded (never rendered: a body is untrusted content)."""
    session = request[SESSION]
    request_id = request.match_info["id"]
    raw, _ = await request.app[CLIENT].raw(
        session.key, session.team_id, f"/v1/requests/{request_id}/raw_body"
    )
    return web.Response(
        body=raw,
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{request_id}.body"'},
    )


async def replay(request: web.Request) -> web.StreamResponse:
    request_id = request.match_info["id"]
    answer = await api(request, "POST", f"/v1/requests/{request_id}/retry", json={})
    if is_htmx(request):
        return render(request, "_replayed.html", {"answer": answer})
    return redirect(request, f"/requests/{answer['request_id']}")


async def _attempts(request: web.Request, event_id: str) -> list[dict[str, Any]]:
    page = await api(
        request,
        "GET",
        "/v1/attempts",
        {"event_id": event_id, "include_data": "true", "limit": "100"},
    )
    return sorted(page["models"], key=lambda a: a["attempt_number"])


async def event_page(request: web.Request) -> web.Response:
    event_id = request.match_info["id"]
    event = await api(request, "GET", f"/v1/events/{event_id}")
    context = {
        "event": event,
        "attempts": await _attempts(request, event_id),
        "response_class": response_class,
        "sources": await names(request, "sources"),
        "connections": await names(request, "connections"),
        "destinations": await names(request, "destinations"),
    }
    try:
        context.update(await _body(request, event["request_id"]))
    except ApiError:  # the request may be gone (TTL); the event still shows
        context["body"] = None
    return render(request, "event.html", context)


async def event_attempts(request: web.Request) -> web.Response:
    """The live part of the event inspector: status and attempts, polled by htmx."""
    event_id = request.match_info["id"]
    event = await api(request, "GET", f"/v1/events/{event_id}")
    return render(
        request,
        "_attempts.html",
        {
            "event": event,
            "attempts": await _attempts(request, event_id),
            "response_class": response_class,
        },
    )


async def retry(request: web.Request) -> web.StreamResponse:
    event_id = request.match_info["id"]
    await api(request, "POST", f"/v1/events/{event_id}/retry", json={})
    if is_htmx(request):
        return await event_attempts(request)
    return redirect(request, f"/events/{event_id}")
