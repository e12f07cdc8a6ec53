"""The requests and events lists: filters in the URL, pages through the API's cursors."""

from __future__ import annotations

from aiohttp import web

from console.pages import api, names, render
from console.views import (
    EVENT_FILTERS,
    EVENT_SORTS,
    EVENT_STATUSES,
    REJECTION_CAUSES,
    REQUEST_FILTERS,
    SAVED_VIEWS,
    filters_from,
    link,
    page_params,
)


async def events_page(request: web.Request) -> web.Response:
    filters = filters_from(request.query, EVENT_FILTERS)
    page = await api(request, "GET", "/v1/events", page_params(request.query, EVENT_FILTERS))
    sources = await names(request, "sources")
    context = {
        "events": page["models"],
        "pagination": page["pagination"],
        "filters": filters,
        "statuses": EVENT_STATUSES,
        "views": SAVED_VIEWS,
        "link": link,
        "sorts": EVENT_SORTS,
        "by_last_attempt": filters.get("sort") == "last_attempt_at",
        "sources": sources,
        "connections": await names(request, "connections"),
        "destinations": await names(request, "destinations"),
        # Whether the first page is the newest created: only then does the live tail
        # prepend rows.
        "live": not any(request.query.get(c) for c in ("next", "prev", "sort")),
    }
    if not page["models"] and not filters:
        # An empty list should say whether anything arrived at all.
        requests = await api(request, "GET", "/v1/requests", {"limit": "1"})
        context["any_requests"] = bool(requests["models"])
    return render(request, "events.html", context)


async def requests_page(request: web.Request) -> web.Response:
    filters = filters_from(request.query, REQUEST_FILTERS)
    page = await api(request, "GET", "/v1/requests", page_params(request.query, REQUEST_FILTERS))
    return render(
        request,
        "requests.html",
        {
            "requests": page["models"],
            "pagination": page["pagination"],
            "filters": filters,
            "causes": REJECTION_CAUSES,
            "link": link,
            "sources": await names(request, "sources"),
        },
    )
