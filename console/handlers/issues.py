"""Issues: the list (status and type filters), an issue's page (its timeline and affected
events or requests), its status changed by hand, and the replay of what it affected (a bulk
job, whose progress page follows)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.issue_views import (
    ISSUE_FILTERS,
    ISSUE_STATUSES,
    ISSUE_TYPES,
    ISSUE_VIEWS,
    affected,
    allowed_status,
    as_params,
    keys_text,
    scope_text,
    status_actions,
)
from console.pages import api, names, redirect, render
from console.views import filters_from, link, page_params


async def issues_page(request: web.Request) -> web.Response:
    filters = filters_from(request.query, ISSUE_FILTERS)
    page = await api(request, "GET", "/v1/issues", page_params(request.query, ISSUE_FILTERS))
    return render(
        request,
        "issues.html",
        {
            "issues": page["models"],
            "pagination": page["pagination"],
            "filters": filters,
            "statuses": ISSUE_STATUSES,
            "types": ISSUE_TYPES,
            "views": ISSUE_VIEWS,
            "link": link,
            "connections": await names(request, "connections"),
            "destinations": await names(request, "destinations"),
            "keys_text": keys_text,
            "scope_text": scope_text,
        },
    )


async def _live(request: web.Request) -> dict[str, Any]:
    """The part of an issue's page that changes: status, actions, counts, timeline."""
    issue_id = request.match_info["id"]
    issue = await api(request, "GET", f"/v1/issues/{issue_id}")
    timeline = await api(request, "GET", f"/v1/issues/{issue_id}/timeline")
    replayable = affected(issue)
    return {
        "issue": issue,
        "timeline": timeline["models"],
        "actions": status_actions(issue["status"]),
        "affected_kind": replayable[0] if replayable else None,
        "connections": await names(request, "connections"),
        "destinations": await names(request, "destinations"),
        "keys_text": keys_text,
        "scope_text": scope_text,
    }


async def issue_page(request: web.Request) -> web.Response:
    context = await _live(request)
    items: list[dict[str, Any]] = []
    replayable = affected(context["issue"])
    if replayable is not None:
        kind, query = replayable
        items = (await api(request, "GET", f"/v1/{kind}", as_params(query)))["models"]
    return render(
        request,
        "issue.html",
        {**context, "affected": items, "sources": await names(request, "sources")},
    )


async def issue_live(request: web.Request) -> web.Response:
    """Polled by the issue's page: a status changed by hand shows once the API has it."""
    return render(request, "_issue_live.html", await _live(request))


async def change_status(request: web.Request) -> web.StreamResponse:
    issue_id = request.match_info["id"]
    asked = str((await request.post()).get("status", ""))
    issue = await api(request, "GET", f"/v1/issues/{issue_id}")
    if not allowed_status(issue["status"], asked):
        raise web.HTTPNotFound()
    await api(request, "PUT", f"/v1/issues/{issue_id}", json={"status": asked})
    return redirect(request, f"/issues/{issue_id}")


async def replay(request: web.Request) -> web.StreamResponse:
    """The bulk retry (or, transformation, the bulk replay) of what the issue affected."""
    issue_id = request.match_info["id"]
    job = await api(request, "POST", f"/v1/issues/{issue_id}/replay", json={})
    return redirect(request, f"/bulk/{job['kind']}/{job['id']}")
