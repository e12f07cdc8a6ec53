"""The events list's live tail as server-sent events: each new or changed row, rendered.

New rows are pushed as soon as they are stored: the tail long-polls the events list
(`after_batch`: the API answers once the projector has written the next batch of event facts),
so it wakes when there is something to read instead of on a timer."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_sse import sse_response

from console.errors import ApiError, ApiUnreachable
from console.pages import api, names
from console.tail import Tail
from console.views import EVENT_FILTERS, api_params, filters_from

POLL_S = 0.5  # between polls only when the API answers without a `batch` (no long poll)
PAGE = 250
MAX_PAGES = 8  # 2,000 rows per poll: far above what one poll can fall behind by


async def _window(
    request: web.Request, params: dict[str, str], tail: Tail, batch: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """The newest rows down to the last one already sent (the first page at least), once a
    batch after `batch` is stored; and the batch they include."""
    rows: list[dict[str, Any]] = []
    query = {**params, "limit": str(PAGE)}
    if batch is not None:
        query["after_batch"] = str(batch)
    newest_batch = None
    for _ in range(MAX_PAGES):
        page = await api(request, "GET", "/v1/events", query)
        if newest_batch is None:
            newest_batch = page.get("batch")
        rows += page["models"]
        cursor = page["pagination"]["next"]
        if not cursor or tail.reached(page["models"]):
            break
        query = {**params, "limit": str(PAGE), "next": cursor}
    return rows, newest_batch


async def events_tail(request: web.Request) -> web.StreamResponse:
    # The newest event the page showed: everything newer is sent.
    tail = Tail(request.query.get("after", ""))
    filters = api_params(filters_from(request.query, EVENT_FILTERS), EVENT_FILTERS)
    labels = {
        "sources": await names(request, "sources"),
        "connections": await names(request, "connections"),
        "destinations": await names(request, "destinations"),
    }
    batch: int | None = None
    # aiohttp-sse pings every 15 s by default: proxies keep the stream open.
    async with sse_response(request) as stream:
        try:
            while stream.is_connected():
                try:
                    rows, batch = await _window(request, filters, tail, batch)
                except (ApiError, ApiUnreachable):
                    await stream.send("", event="stale")  # the page shows the tail paused
                    await asyncio.sleep(POLL_S * 4)
                    continue
                for row in tail.take(rows):
                    html = aiohttp_jinja2.render_string(
                        "_event_row.html", request, {"e": row, **labels}
                    )
                    await stream.send(html, event="row", id=row["id"])
                if batch is None:
                    await asyncio.sleep(POLL_S)
        except ConnectionResetError:
            pass  # the page went away between two polls
    return stream
