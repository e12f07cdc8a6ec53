"""The events list's live tail as server-sent events: each new or changed row, rendered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from console.errors import ApiError, ApiUnreachable
from console.pages import api, names
from console.tail import Tail, parse_time
from console.views import EVENT_FILTERS, api_params, filters_from

POLL_S = 0.5
PAGE = 250
MAX_PAGES = 8  # 2,000 rows per poll: far above what one poll can fall behind by


async def _window(request: web.Request, params: dict[str, str]) -> list[dict]:
    rows: list[dict] = []
    query = {**params, "limit": str(PAGE)}
    for _ in range(MAX_PAGES):
        page = await api(request, "GET", "/v1/events", query)
        rows += page["models"]
        cursor = page["pagination"]["next"]
        if len(page["models"]) < PAGE or not cursor:
            break
        query = {**params, "limit": str(PAGE), "next": cursor}
    return rows


async def events_tail(request: web.Request) -> web.StreamResponse:
    since = request.query.get("since")
    try:
        start = parse_time(since) if since else datetime.now(UTC)
    except ValueError:
        start = datetime.now(UTC)
    tail = Tail(start)
    filters = api_params(filters_from(request.query, EVENT_FILTERS), EVENT_FILTERS)
    filters.pop("created_at[gte]", None)
    labels = {"sources": await names(request, "sources"),
              "connections": await names(request, "connections"),
              "destinations": await names(request, "destinations")}
    async with sse_response(request) as stream:
        stream.ping_interval = 15
        while stream.is_connected():
            try:
                rows = await _window(request,
                                     {**filters, "created_at[gte]": tail.window_start()})
            except (ApiError, ApiUnreachable):
                await stream.send("", event="stale")  # the page shows the tail is paused
                await asyncio.sleep(POLL_S * 4)
                continue
            for row in tail.take(rows):
                html = aiohttp_jinja2.render_string("_event_row.html", request,
                                                    {"e": row, **labels})
                await stream.send(html, event="row", id=row["id"])
            await asyncio.sleep(POLL_S)
    return stream
