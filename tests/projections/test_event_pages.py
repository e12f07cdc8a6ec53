"""Events found window by window (`projections.event_pages`) are exactly the events the full
aggregation (the `events` view) finds: any filter combination, both orders, every page
walked through its cursors, with windows small enough that every page takes many steps."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import event_pages
from projections.clickhouse import Engine
from projections.params import EventQuery, event_cursor_item, paginate
from projections.rows import COLUMNS, as_tuple, project
from tests.projections.records import attempt_record, event_record, now_ms, request_record

TEAM = "tm_pages"
# Recent, so the tables' retention keeps the rows: whole hours, so hypothesis sees the
# same times in every example.
BASE = (now_ms() // 3_600_000 - 24) * 3_600_000


def _histories(seed: int) -> list[tuple[str, dict[str, Any], int]]:
    """Events with varied lives: queued, held, failed, retried, delivered, cancelled."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any], int]] = []
    for i in range(80):
        at = BASE + i * 1000
        request = request_record(TEAM, rng.choice(["src_a", "src_b"]), at=at)
        # The router routes a little after receipt (the event id is dated by the request).
        event = event_record(request, rng.choice(["con_1", "con_2"]), at=at + rng.randint(0, 5))
        life = rng.choice(
            ["queued", "held", "failed", "failed_twice", "retried", "ok", "cancelled", "scheduled"]
        )
        out.append(("held" if life == "held" else "events", event, at))
        t = at + 10
        if life in ("failed", "failed_twice", "retried", "ok", "cancelled", "scheduled"):
            code = rng.choice([500, 503, 404, 200]) if life != "ok" else 200
            ok = code == 200 and life == "ok"
            status = {"ok": "SUCCESSFUL", "cancelled": "CANCELLED", "scheduled": "SCHEDULED"}.get(
                life, "FAILED"
            )
            out.append(
                (
                    "attempts",
                    attempt_record(
                        event,
                        status=200 if ok else code,
                        event_status=status,
                        at=t,
                        error_code=None if ok else rng.choice([None, "TIMEOUT"]),
                        next_attempt_at=t + 60_000 if life == "scheduled" else None,
                    ),
                    t,
                )
            )
        if life in ("failed_twice", "retried"):
            t += 50_000 + rng.randint(0, 100_000)  # later than younger events' attempts
            retry = {
                **event,
                "created_at": t,
                "due_at": t,
                "attempt_number": 2,
                "trigger": "MANUAL",
            }
            out.append(("events", retry, t))
            ok = life == "retried"
            out.append(
                (
                    "attempts",
                    attempt_record(
                        retry,
                        status=200 if ok else 502,
                        event_status="SUCCESSFUL" if ok else "FAILED",
                        at=t + 5,
                    ),
                    t + 5,
                )
            )
    return out


@pytest.fixture
async def seeded(engine: Engine, db: str) -> str:
    for kind, record, timestamp in _histories(7):
        for table, row in project(kind, "", record, timestamp, 0):
            await engine.insert(f"{db}.{table}", COLUMNS[table], [as_tuple(table, row)])
    return db


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.replace(tzinfo=UTC).timestamp() * 1000)


async def _reference(engine: Engine, db: str, query: EventQuery) -> list[str]:
    rows = await engine.query(
        f"SELECT * FROM {db}.events WHERE team_id = {{t:String}}", {"t": TEAM}
    )
    gte, lte = query.created_range_ms
    kept = [
        r
        for r in rows
        if all(
            query_value is None or r[name] == query_value
            for name, query_value in (
                ("source_id", query.source_id),
                ("connection_id", query.connection_id),
                ("status", query.status),
                ("response_status", query.response_status),
                ("error_code", query.error_code),
            )
        )
        and (query.attempts_gte is None or r["attempts"] >= query.attempts_gte)
        and (query.attempts_lte is None or r["attempts"] <= query.attempts_lte)
        and (gte is None or _ms(r["created_at"]) >= gte)
        and (lte is None or _ms(r["created_at"]) <= lte)
    ]
    if query.order_by == "last_attempt_at":
        kept.sort(key=lambda r: (_ms(r["last_attempt_at"]) or -1, r["event_id"]), reverse=True)
    else:
        kept.sort(key=lambda r: r["event_id"], reverse=True)
    return [r["event_id"] for r in kept]


async def _walk(engine: Engine, db: str, query: EventQuery) -> list[str]:
    """Every page, following `next` to the end; then one step back with `prev`."""

    async def fetch(sql: Any) -> list[dict[str, Any]]:
        return await engine.query(sql.text, sql.params)

    seen: list[str] = []
    page_query, previous = query, None
    for _ in range(100):
        rows = await event_pages.event_rows(fetch, db, TEAM, page_query)
        body = paginate(rows, page_query, lambda r: event_cursor_item(r, query.order_by))
        seen += [m["id"] for m in body["models"]]
        if previous is not None and body["pagination"]["prev"]:
            back = page_query.model_copy(update={"next": None, "prev": body["pagination"]["prev"]})
            rows = await event_pages.event_rows(fetch, db, TEAM, back)
            back_body = paginate(rows, back, lambda r: event_cursor_item(r, query.order_by))
            assert [m["id"] for m in back_body["models"]] == previous
        if not body["pagination"]["next"]:
            return seen
        previous = [m["id"] for m in body["models"]]
        page_query = query.model_copy(update={"next": body["pagination"]["next"]})
    raise AssertionError("more pages than events")


times = st.none() | st.integers(-5, 85).map(
    lambda i: datetime.fromtimestamp((BASE + i * 1000) / 1000, UTC).isoformat()
)


@st.composite
def event_queries(draw: Any) -> EventQuery:
    data = {
        "limit": draw(st.integers(1, 12)),
        "status": draw(
            st.none()
            | st.sampled_from(["QUEUED", "SCHEDULED", "HOLD", "SUCCESSFUL", "FAILED", "CANCELLED"])
        ),
        "response_status": draw(st.none() | st.sampled_from([200, 404, 500, 502])),
        "error_code": draw(st.none() | st.just("TIMEOUT")),
        "source_id": draw(st.none() | st.just("src_a")),
        "connection_id": draw(st.none() | st.just("con_2")),
        "attempts[gte]": draw(st.none() | st.integers(0, 2)),
        "attempts[lte]": draw(st.none() | st.integers(0, 2)),
        "created_at[gte]": draw(times),
        "created_at[lte]": draw(times),
        "order_by": draw(st.sampled_from(["created_at", "last_attempt_at"])),
    }
    return EventQuery.model_validate({k: v for k, v in data.items() if v is not None})


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=event_queries())
async def test_windowed_pages_match_the_full_aggregation(
    engine: Engine, seeded: str, query: EventQuery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_pages, "FIRST_WINDOW", 2)
    monkeypatch.setattr(event_pages, "LARGEST_WINDOW", 8)
    assert await _walk(engine, seeded, query) == await _reference(engine, seeded, query)


def test_windows_grow_to_a_bound_and_a_short_window_ends_the_walk() -> None:
    sizes = [event_pages.FIRST_WINDOW]
    while sizes[-1] < event_pages.LARGEST_WINDOW:
        sizes.append(event_pages.next_window(sizes[-1]))
    assert sizes[-1] == event_pages.LARGEST_WINDOW and len(sizes) < 10
    assert event_pages.page_done(found=51, limit=50, window_n=2000, size=2000)
    assert event_pages.page_done(found=3, limit=50, window_n=1999, size=2000)
    assert not event_pages.page_done(found=50, limit=50, window_n=2000, size=2000)
