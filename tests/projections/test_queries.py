"""The SQL builders: user input only ever in parameters, and any filter combination builds
SQL that the real engine accepts and answers correctly (hypothesis, run against chdb)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import queries
from projections.clickhouse import Engine
from projections.params import (
    AttemptQuery,
    EventQuery,
    IgnoredQuery,
    RequestQuery,
)
from projections.rows import COLUMNS, as_tuple, project
from schemas.paging import encode_cursor
from tests.projections.records import (
    attempt_record,
    event_record,
    ignored_record,
    request_record,
)

HOSTILE = "'; DROP TABLE requests; --\\%_"


def test_user_input_travels_only_as_parameters() -> None:
    query = RequestQuery(
        q=HOSTILE, source_id="src_x", status="accepted", next=encode_cursor("lt", "req_zz")
    )
    sql = queries.list_requests("db1", "tm_1", query)
    assert HOSTILE not in sql.text and "src_x" not in sql.text and "req_zz" not in sql.text
    assert sql.text.count("team_id = {team:String}") == 1 and sql.params["team"] == "tm_1"
    assert queries.like_pattern(HOSTILE) == "%'; drop table requests; --\\\\\\%\\_%"
    events = queries.list_events("db1", "tm_1", EventQuery(q=HOSTILE, error_code="TIMEOUT"))
    assert HOSTILE not in events.text and "TIMEOUT" not in events.text
    # Every sub-query (searching event data, choosing the candidates) is scoped to the team.
    assert events.text.count("team_id = {team:String}") == events.text.count("FROM db1.") == 4


ids = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
maybe = st.none() | st.sampled_from(["src_a", "src_b", "con_1", "des_1"]) | ids
times = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
cursors = st.none() | st.builds(encode_cursor, st.sampled_from(["lt", "gt"]), ids)
texts = st.none() | st.text(min_size=1, max_size=30)
common = {"limit": st.integers(1, 250), "created_at[gte]": times, "created_at[lte]": times}


def _query(model: type, draw: Any, fields: dict[str, Any]) -> Any:
    data = {name: draw(strategy) for name, strategy in {**common, **fields}.items()}
    cursor = draw(cursors)
    if cursor:
        data[draw(st.sampled_from(["next", "prev"]))] = cursor
    return model.model_validate({k: v for k, v in data.items() if v is not None})


@st.composite
def any_query(draw: Any) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["requests", "events", "attempts", "ignored"]))
    if kind == "requests":
        return kind, _query(
            RequestQuery,
            draw,
            {
                "source_id": maybe,
                "status": st.none() | st.sampled_from(["accepted", "rejected"]),
                "rejection_cause": maybe,
                "q": texts,
                "include_data": st.booleans(),
            },
        )
    if kind == "events":
        return kind, _query(
            EventQuery,
            draw,
            {
                "source_id": maybe,
                "connection_id": maybe,
                "destination_id": maybe,
                "request_id": maybe,
                "q": texts,
                "include_data": st.booleans(),
                "status": st.none()
                | st.sampled_from(["QUEUED", "SCHEDULED", "HOLD", "SUCCESSFUL", "FAILED"]),
                "response_status": st.none() | st.integers(100, 599),
                "error_code": maybe,
            },
        )
    if kind == "attempts":
        return kind, _query(AttemptQuery, draw, {"event_id": maybe, "include_data": st.booleans()})
    return kind, _query(
        IgnoredQuery, draw, {"request_id": maybe, "connection_id": maybe, "cause": maybe}
    )


BUILDERS = {
    "requests": queries.list_requests,
    "events": queries.list_events,
    "attempts": queries.list_attempts,
    "ignored": queries.list_ignored,
}


async def _seed(engine: Engine, db: str) -> None:
    records: list[tuple[str, dict[str, Any]]] = []
    for i, source in enumerate(["src_a", "src_b", "src_a"]):
        request = request_record(
            "tm_q",
            source,
            status="accepted" if i else "rejected",
            cause=None if i else "VERIFICATION_FAILED",
        )
        event = event_record(request)
        records += [
            ("requests", request),
            ("events", event),
            ("attempts", attempt_record(event, status=500 + i)),
            ("ignored", ignored_record(request)),
        ]
    for kind, record in records:
        for table, row in project(kind, "", record, 0, 0):
            await engine.insert(f"{db}.{table}", COLUMNS[table], [as_tuple(table, row)])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=any_query())
async def test_any_filter_combination_runs_and_filters(
    engine: Engine, db: str, case: tuple[str, Any]
) -> None:
    if not (await engine.query(f"SELECT count() AS n FROM {db}.requests"))[0]["n"]:
        await _seed(engine, db)
    kind, query = case
    sql = BUILDERS[kind](db, "tm_q", query)
    rows = await engine.query(sql.text, sql.params, bytes_columns=sql.bytes_columns)
    assert len(rows) <= query.limit + 1
    for row in rows:
        for name in (
            "source_id",
            "status",
            "connection_id",
            "request_id",
            "event_id",
            "response_status",
            "error_code",
            "rejection_cause",
            "cause",
        ):
            wanted = getattr(query, name, None)
            if wanted is not None and name in row:
                assert row[name] == wanted, (name, row)
    assert rows == sorted(
        rows, key=lambda r: r["id"], reverse=not (query.cursor and query.cursor[0] == "gt")
    )
