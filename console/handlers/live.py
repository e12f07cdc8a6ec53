"""The events list's live tail as server-sent events: each new or changed row, rendered."""

from __future__ import annotations

import asyncio

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from console.errors import ApiError, ApiUnreachable
from console.pages import api, names
from console.tail import Tail
from console.views import EVENT_FILTERS, api_params, filters_from

POLL_S = 0.5
PAGE = 250
MAX_PAGES = 8  # 2,000 rows per poll: far above what one poll can fall behind by


async def _window(request: web.Request, params: dict[str, str], tail: Tail) -> list[dict]:
    """The newest rows down to the last one already sent (the first page at least)."""
    rows: list[dict] = []
    query = {**params, "limit": str(PAGE)}
    for _ in range(MAX_PAGES):
        page = await api(request, "GET", "/v1/events", query)
        rows += page["models"]
        cursor = page["pagination"]["next"]
        if not cursor or tail.reached(page["models"]):
            break
        query = {**params, "limit": str(PAGE), "next": cursor}
    return rows


async def events_tail(request: web.Request) -> web.StreamResponse:
    # The newest event the page showed: everything newer is sent.
    tail = Tail(request.query.get("after", ""))
    filters = api_params(filters_from(request.query, EVENT_FILTERS), EVENT_FILTERS)
    labels = {"sources": await names(request, "sources"),
              "connections": await names(request, "connections"),
              "destinations": await names(request, "destinations")}
    async with sse_response(request) as stream:
        stream.ping_interval = 15
        try:
            while stream.is_connected():
                try:
                    rows = await _window(request, filters, tail)
                except (ApiError, ApiUnreachable):
                    await stream.send("", event="stale")  # the page shows the tail paused
                    await asyncio.sleep(POLL_S * 4)
                    continue
                for row in tail.take(rows):
                    html = aiohttp_jinja2.render_string("_event_row.html", request,
                                                        {"e": row, **labels})
                    await stream.send(html, event="row", id=row["id"])
                await asyncio.sleep(POLL_S)
        except ConnectionResetError:
            pass  # the page went away between two polls
    return stream
