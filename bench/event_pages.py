"""The events list's queries over 1,000,000 events: a page of 50 per saved view, filter and
sort, as `GET /v1/events` runs them (projections/event_pages.py), against the embedded
ClickHouse engine in this process; and, as the baseline, the former query (every event of the
team aggregated, then filtered).

The events are written straight into `event_log` with `INSERT … SELECT` (a created fact each,
an attempt for 98%: 95% delivered, 3% failed; 2% never attempted): loading them through the
broker and the projector takes longer than a run should on a small machine (bench/console.py
does that for the whole page, with fewer events).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from bench.load import percentile
from bench.report import Report
from projections import queries
from projections.clickhouse import Engine
from projections.event_pages import event_rows
from projections.migrations import migrate
from projections.params import EventQuery
from projections.views import EVENT_AGGREGATES

DB = "bench_pages"
TEAM = "tm_bench"
START_MS = 1_790_000_000_000
LOADS = 10


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# (label, the list's query parameters, share of events matching)
VIEWS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("All, newest first", {}, "100%"),
    ("saved view Successful", {"status": "SUCCESSFUL"}, "95%"),
    ("saved view Failed", {"status": "FAILED"}, "3%"),
    ("saved view Pending (QUEUED)", {"status": "QUEUED"}, "2%"),
    ("saved view Held", {"status": "HOLD"}, "none"),
    ("response_status=500", {"response_status": 500}, "3%"),
    ("attempts[gte]=1", {"attempts[gte]": 1}, "98%"),
    (
        "created in one minute, an hour after the first",
        {
            "created_at[gte]": _iso(START_MS + 3_600_000),
            "created_at[lte]": _iso(START_MS + 3_660_000),
        },
        "0.6% of 1M",
    ),
    ("order_by=last_attempt_at", {"order_by": "last_attempt_at"}, "100%"),
    ("Failed, order_by=last_attempt_at", {"status": "FAILED", "order_by": "last_attempt_at"}, "3%"),
)

_FACT = """INSERT INTO {db}.event_log (team_id, event_id, event_time, request_id, source_id,
    connection_id, destination_id, fact, fact_key, at, rank, state, trigger, attempt_number,
    attempt_id, outcome_status, outcome_error, next_due_at, event_created_at)
SELECT '{team}', concat('evt_', leftPad(hex(number), 26, '0')), t, concat('req_', hex(number)),
    'src_1', if(number % 3 = 0, 'con_a', 'con_b'), 'des_1', {fact}
FROM (SELECT number, fromUnixTimestamp64Milli(toInt64({start} + number * 10), 'UTC') AS t
      FROM numbers({n})) {where}"""
CREATED = (
    "'CREATED', concat('created:', toString(number)), t, 0, 'QUEUED', 'INITIAL', 1, '', "
    "NULL, NULL, t, t"
)
ATTEMPT = (
    "'ATTEMPT', concat('attempt:atm_', toString(number)), t + toIntervalMillisecond(50), "
    "2, if(number % 100 < 3, 'FAILED', 'SUCCESSFUL'), 'INITIAL', 1, "
    "concat('atm_', toString(number)), if(number % 100 < 3, 500, 200), "
    "if(number % 100 < 3, 'BAD_RESPONSE', NULL), NULL, t"
)


def former(query: EventQuery) -> queries.Sql:
    """The query before this change: every event aggregated, then the state filtered."""
    state = {"status": "e_status", "response_status": "e_response_status"}
    where = " AND ".join(
        f"{column} = {{{name}:String}}" if name == "status" else f"{column} = {{{name}:UInt16}}"
        for name, column in state.items()
        if getattr(query, name) is not None
    )
    text = (
        f"SELECT event_id AS id FROM (SELECT event_id, {EVENT_AGGREGATES} FROM {DB}.event_log"
        f" WHERE team_id = {{team:String}} GROUP BY event_id) WHERE {where} "
        f"ORDER BY event_id DESC LIMIT 51"
    )
    return queries.Sql(
        text, {"team": TEAM, "status": query.status, "response_status": query.response_status}
    )


async def measure(n: int, loads: int, path: str) -> Report:
    """The figures, with the engine's data in `path` (a temporary folder the caller removes)."""
    report = Report(
        f"Events list queries over {n:,} events (embedded ClickHouse, in process)",
        ["page of 50", "matching", "p50", "p95", "notes"],
    )
    engine = await Engine.open("chdb://" + path)
    await migrate(engine, DB, 0)
    began = time.monotonic()
    for fact, where in ((CREATED, ""), (ATTEMPT, "WHERE number % 100 < 98")):
        await engine.command(
            _FACT.format(db=DB, team=TEAM, fact=fact, start=START_MS, n=n, where=where)
        )
    report.notes.append(f"{n:,} events written in {time.monotonic() - began:.0f} s")

    async def fetch(sql: queries.Sql) -> list[dict[str, Any]]:
        return await engine.query(sql.text, sql.params)

    async def timed(run: Any, times: int) -> list[float]:
        took = []
        for _ in range(times):
            started = time.perf_counter()
            await run()
            took.append((time.perf_counter() - started) * 1000)
        return sorted(took)

    for label, params, share in VIEWS:
        query = EventQuery.model_validate({"limit": 50, **params})
        took = await timed(lambda q=query: event_rows(fetch, DB, TEAM, q), loads)
        report.rows.append(
            [
                label,
                share,
                f"{percentile(took, 0.5):.0f} ms",
                f"{percentile(took, 0.95):.0f} ms",
                "windowed" if queries.event_windowed(query) else "one query",
            ]
        )
    for label, params in (
        ("former query: Failed", {"status": "FAILED"}),
        ("former query: Pending", {"status": "QUEUED"}),
    ):
        query = EventQuery.model_validate({"limit": 50, **params})
        took = await timed(lambda q=query: fetch(former(q)), 3)
        report.rows.append(
            [
                label,
                "",
                f"{percentile(took, 0.5):.0f} ms",
                f"{percentile(took, 0.95):.0f} ms",
                "baseline: every event aggregated (3 loads)",
            ]
        )
    await engine.close()
    return report


def run(
    quick: bool = False, duration_s: float | None = None, concurrency: int | None = None
) -> Report:
    n = int(os.environ.get("FASTHOOK_BENCH_PAGES_N") or (100_000 if quick else 1_000_000))
    with tempfile.TemporaryDirectory(prefix="fh-bench-pages-") as tmp:
        return asyncio.run(measure(n, 5 if quick else LOADS, os.path.realpath(tmp)))
