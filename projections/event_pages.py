"""A page of events found window by window.

Filtering on an event's state needs its facts aggregated; aggregating every event of a team
to show 50 costs time proportional to the team's history. Events are walked in the page's
order instead: the next window of candidate ids (`queries.event_window`, read from the sort
key), then only those aggregated and filtered (`queries.list_events` up to the window's
edge), until the page is full or no candidate is left. Windows grow, so a rare match costs a
few steps, never more than one walk over the candidates.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from projections import queries
from projections.params import EventQuery
from schemas.paging import encode_cursor

FIRST_WINDOW = 2_000
GROWTH = 4
LARGEST_WINDOW = 512_000

Fetch = Callable[[queries.Sql], Awaitable[list[dict[str, Any]]]]


def next_window(size: int) -> int:
    return min(size * GROWTH, LARGEST_WINDOW)


def past(query: EventQuery, edge: str) -> EventQuery:
    """The same query with its cursor moved beyond `edge` (same direction)."""
    descending = query.cursor is None or query.cursor[0] == "lt"
    moved = (
        {"next": encode_cursor("lt", edge), "prev": None}
        if descending
        else {"prev": encode_cursor("gt", edge), "next": None}
    )
    return query.model_copy(update=moved)


def page_done(found: int, limit: int, window_n: int, size: int) -> bool:
    """The page is full (one row beyond the limit says there is more), or the last window
    held fewer candidates than asked: there are no more."""
    return found > limit or window_n < size


async def event_rows(
    fetch: Fetch, db: str, team_id: str, query: EventQuery
) -> list[dict[str, Any]]:
    """Rows of the page (`limit + 1` at most, in the cursor's direction), as `paginate`
    wants them."""
    if not queries.event_windowed(query):
        return await fetch(queries.list_events(db, team_id, query))
    found: list[dict[str, Any]] = []
    step, size = query, FIRST_WINDOW
    while True:
        [window] = await fetch(queries.event_window(db, team_id, step, size))
        n = int(window["n"])
        if n == 0:
            return found
        found += await fetch(queries.list_events(db, team_id, step, edge=window["edge"]))
        if page_done(len(found), query.limit, n, size):
            return found[: query.limit + 1]
        step, size = past(step, window["edge"]), next_window(size)
