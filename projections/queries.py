"""SQL for every query route. Pure: (database, team, validated filters) → SQL text + parameters.

User input only ever travels as a `{name:Type}` parameter; the SQL text is built from fixed
fragments and the database identifier (a setting, checked by `ident`). Every statement filters
by the caller's team first: it is the sort key's first column, and it is the isolation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.clickhouse import ident
from projections.params import (
    AttemptQuery,
    EventQuery,
    IgnoredQuery,
    IssueQuery,
    ListQuery,
    RequestQuery,
    last_attempt_key,
)
from projections.rows import ISSUE_COLUMNS
from projections.views import EVENT_AGGREGATES


@dataclass(frozen=True, slots=True)
class Sql:
    text: str
    params: dict[str, Any] = field(default_factory=dict)
    bytes_columns: tuple[str, ...] = ()


class _Binder:
    """Hands out `{pN:Type}` placeholders and keeps their values."""

    def __init__(self, team_id: str) -> None:
        self.params: dict[str, Any] = {"team": team_id}

    def __call__(self, value: Any, kind: str = "String") -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"


def like_pattern(q: str) -> str:
    """`q` as a case-insensitive substring pattern over the lower-cased search column."""
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ms(column: str) -> str:
    return f"toUnixTimestamp64Milli({column})"


def _time_range(query: ListQuery, column: str, bind: _Binder) -> list[str]:
    gte, lte = query.created_range_ms
    out = []
    if gte is not None:
        out.append(f"{column} >= fromUnixTimestamp64Milli({bind(gte, 'Int64')}, 'UTC')")
    if lte is not None:
        out.append(f"{column} <= fromUnixTimestamp64Milli({bind(lte, 'Int64')}, 'UTC')")
    return out


def _page(query: ListQuery, column: str, bind: _Binder) -> tuple[list[str], str]:
    """The cursor's condition and the ORDER BY … LIMIT (one extra row: is there more?)."""
    cursor = query.cursor
    where = []
    order = "DESC"
    if cursor is not None:
        direction, item_id = cursor
        where.append(f"{column} {'<' if direction == 'lt' else '>'} {bind(item_id)}")
        order = "DESC" if direction == "lt" else "ASC"
    return where, f"ORDER BY {column} {order} LIMIT {bind(query.limit + 1, 'UInt32')}"


def _equal(bind: _Binder, **filters: Any) -> list[str]:
    return [f"{column} = {bind(value)}" for column, value in filters.items() if value is not None]


def _filtered_list(
    db: str,
    table: str,
    columns: str,
    keys: tuple[str, str],
    bind: _Binder,
    query: ListQuery,
    **equal: Any,
) -> Sql:
    """A page of a team's rows of `table` (one per id: FINAL): `equal` filters, the query's
    time range on `keys[1]`, its cursor over ids `keys[0]`."""
    id_column, time_column = keys
    where = ["team_id = {team:String}", *_equal(bind, **equal)]
    where += _time_range(query, time_column, bind)
    cursor, tail = _page(query, id_column, bind)
    text = (
        f"SELECT {columns} FROM {ident(db)}.{table} FINAL "
        f"WHERE {' AND '.join(where + cursor)} {tail}"
    )
    return Sql(text, bind.params)


# --- requests ---------------------------------------------------------------------------------
REQUEST_COLUMNS = (
    "request_id AS id, source_id, status, rejection_cause, verification_method, verified, "
    f"verification_detail, replay_of, event_type, idempotency_key, "
    f"{ms('received_at')} AS created_ms"
)
REQUEST_DATA_COLUMNS = "method, path, query, headers, content_type, body"
REQUEST_RECORD_COLUMNS = (
    f"team_id, request_id, source_id, {ms('received_at')} AS received_ms, method, path, query, "
    "public_url, headers, header_raw, body, body_size, client_ip, verification_method, "
    "verified, verification_detail, status, rejection_cause, replay_of, connection_ids, "
    "event_type, idempotency_key"
)


def list_requests(db: str, team_id: str, query: RequestQuery, request_id: str | None = None) -> Sql:
    bind = _Binder(team_id)
    where = ["team_id = {team:String}"]
    where += _equal(
        bind,
        request_id=request_id,
        source_id=query.source_id,
        status=query.status,
        rejection_cause=query.rejection_cause,
        event_type=query.event_type,
        idempotency_key=query.idempotency_key,
    )
    if query.q:
        where.append(f"search LIKE {bind(like_pattern(query.q))}")
    if query.ignored_cause is not None or query.ignored_connection_id is not None:
        ignored = [
            "team_id = {team:String}",
            *_equal(bind, cause=query.ignored_cause, connection_id=query.ignored_connection_id),
        ]
        where.append(
            f"request_id IN (SELECT request_id FROM {ident(db)}.ignored_events "
            f"WHERE {' AND '.join(ignored)})"
        )
    where += _time_range(query, "received_at", bind)
    cursor, tail = _page(query, "request_id", bind)
    columns = REQUEST_COLUMNS + (f", {REQUEST_DATA_COLUMNS}" if query.include_data else "")
    text = (
        f"SELECT {columns} FROM {ident(db)}.requests FINAL "
        f"WHERE {' AND '.join(where + cursor)} {tail}"
        # Requests are immutable: rows sharing a key are copies of one record, so the
        # skip indexes (the n-gram filter behind `q`) may stay on under FINAL.
        " SETTINGS use_skip_indexes_if_final = 1"
    )
    return Sql(text, bind.params, ("body",) if query.include_data else ())


def request_record(db: str, team_id: str, request_id: str) -> Sql:
    """Everything stored about one request: for raw_body and for a retry."""
    bind = _Binder(team_id)
    text = (
        f"SELECT {REQUEST_RECORD_COLUMNS} FROM {ident(db)}.requests FINAL "
        f"WHERE team_id = {{team:String}} AND request_id = {bind(request_id)} LIMIT 1"
    )
    return Sql(text, bind.params, ("body", "header_raw"))


def request_counts(db: str, team_id: str, request_ids: Sequence[str]) -> Sql:
    """Events and ignored events per request (for a page of requests)."""
    bind = _Binder(team_id)
    ids = bind(list(request_ids), "Array(String)")
    text = (
        "SELECT request_id, sum(events) AS events_count, sum(ignored) AS ignored_count FROM ("
        f"SELECT request_id, uniqExact(event_id) AS events, 0 AS ignored "
        f"FROM {ident(db)}.event_log WHERE team_id = {{team:String}} AND request_id IN {ids} "
        "GROUP BY request_id UNION ALL "
        f"SELECT request_id, 0, uniqExact(ignored_id) FROM {ident(db)}.ignored_events "
        f"WHERE team_id = {{team:String}} AND request_id IN {ids} GROUP BY request_id"
        ") GROUP BY request_id"
    )
    return Sql(text, bind.params)


# --- events -----------------------------------------------------------------------------------
EVENT_COLUMNS = (
    "event_id AS id, e_request_id AS request_id, e_source_id AS source_id, "
    "e_connection_id AS connection_id, e_destination_id AS destination_id, e_status AS status, "
    "e_attempts AS attempts, e_response_status AS response_status, e_error_code AS error_code, "
    f"{ms('e_last_attempt_at')} AS last_attempt_ms, {ms('e_next_attempt_at')} AS next_attempt_ms, "
    f"{ms('e_successful_at')} AS successful_ms, {ms('e_created_at')} AS created_ms"
)


def _event_state(query: EventQuery, bind: _Binder) -> list[str]:
    """Conditions on an event's aggregated state (its status, outcome, attempts, times)."""
    state = _equal(bind, e_status=query.status, e_error_code=query.error_code)
    if query.response_status is not None:
        state.append(f"e_response_status = {bind(query.response_status, 'UInt16')}")
    if query.attempts_gte is not None:
        state.append(f"e_attempts >= {bind(query.attempts_gte, 'UInt32')}")
    if query.attempts_lte is not None:
        state.append(f"e_attempts <= {bind(query.attempts_lte, 'UInt32')}")
    return state + _time_range(query, "e_created_at", bind)


def _event_candidates(query: EventQuery, bind: _Binder) -> list[str]:
    """Conditions that one row of event_log meets for every event whose state matches: read
    before aggregating, they narrow the events to aggregate. Each holds on one row at once:
    the latest fact (it carries the status) or, without a status filter, the latest attempt
    (it carries the response status and error code). An event is never created before the
    request its id is dated by, so its id time bounds `created_at[lte]`; a fact other than an
    attempt is never earlier than the event's creation, which bounds `created_at[gte]`."""
    rows = []
    gte, lte = query.created_range_ms
    if lte is not None:
        rows.append(f"event_time <= fromUnixTimestamp64Milli({bind(lte, 'Int64')}, 'UTC')")
    since = (
        f"event_created_at >= fromUnixTimestamp64Milli({bind(gte, 'Int64')}, 'UTC')"
        if gte is not None
        else None
    )
    if query.status is not None:
        rows.append(f"state = {bind(query.status)}")
        if since:
            rows.append(f"(fact = 'ATTEMPT' OR {since})")
    elif query.error_code is not None or query.response_status is not None:
        rows.append("fact = 'ATTEMPT'")
        rows += _equal(bind, outcome_error=query.error_code)
        if query.response_status is not None:
            rows.append(f"outcome_status = {bind(query.response_status, 'UInt16')}")
    elif query.attempts_gte:
        rows.append("fact = 'ATTEMPT'")
    elif since:
        rows.append(since)
    return rows


def _event_facts(db: str, query: EventQuery, bind: _Binder, event_id: str | None) -> list[str]:
    """Conditions on what never changes for an event (the same on all its rows)."""
    facts = ["team_id = {team:String}"]
    facts += _equal(
        bind,
        event_id=event_id,
        source_id=query.source_id,
        connection_id=query.connection_id,
        destination_id=query.destination_id,
        request_id=query.request_id,
    )
    if query.q:
        facts.append(
            f"event_id IN (SELECT event_id FROM {ident(db)}.event_data "
            f"WHERE team_id = {{team:String}} AND search LIKE {bind(like_pattern(query.q))})"
        )
    return facts


# order_by=last_attempt_at: the latest attempt first, never-attempted events (-1) last, the id
# breaking ties. The same key over an event's rows (to rank candidates before aggregating)
# and over its aggregate (to order the page).
_LAST_ATTEMPT = "maxIfOrNull(at, fact = 'ATTEMPT')"
LAST_ATTEMPT_ROWS = f"(ifNull({ms(_LAST_ATTEMPT)}, -1), event_id)"
LAST_ATTEMPT_AGGREGATE = f"(ifNull({ms('e_last_attempt_at')}, -1), event_id)"


def _descending(query: EventQuery) -> bool:
    return query.cursor is None or query.cursor[0] == "lt"


def _bound(key: str, item: str, op: str, bind: _Binder, last_attempt: bool) -> str:
    """`key op item`, where item is an id or (last_attempt_at) a `ms:id` cursor item."""
    if not last_attempt:
        return f"{key} {op} {bind(item)}"
    parsed = last_attempt_key(item)
    assert parsed is not None  # the query model refuses a cursor of another order
    return f"{key} {op} ({bind(parsed[0], 'Int64')}, {bind(parsed[1])})"


def _ranked(
    db: str,
    query: EventQuery,
    bind: _Binder,
    facts: list[str],
    edge: str | None,
    limit: str | None = None,
    select: str = "event_id",
) -> str:
    """Event ids in last-attempt order after the cursor (up to `edge`, or `limit` of them),
    ranked on two columns of their rows before anything is aggregated."""
    descending = _descending(query)
    having = []
    if query.cursor is not None:
        having.append(
            _bound(LAST_ATTEMPT_ROWS, query.cursor[1], "<" if descending else ">", bind, True)
        )
    if edge is not None:
        having.append(_bound(LAST_ATTEMPT_ROWS, edge, ">=" if descending else "<=", bind, True))
    order = (
        f" ORDER BY {LAST_ATTEMPT_ROWS} {'DESC' if descending else 'ASC'} LIMIT {limit}"
        if limit
        else ""
    )
    return (
        f"SELECT {select} FROM {ident(db)}.event_log WHERE {' AND '.join(facts)} "
        f"GROUP BY event_id {'HAVING ' + ' AND '.join(having) if having else ''}{order}"
    )


def event_windowed(query: EventQuery) -> bool:
    """Whether a page is found window by window (`event_window`, then `list_events` over
    it): when state filters select among the events walked in the page's order."""
    return bool(_event_state(query, _Binder("")))


def list_events(
    db: str, team_id: str, query: EventQuery, event_id: str | None = None, edge: str | None = None
) -> Sql:
    """A page of events. Filters on the state apply to the aggregate, but only events that
    `_event_candidates` lets through are aggregated; `edge` (from `event_window`) bounds
    them further to the window's."""
    bind = _Binder(team_id)
    facts = _event_facts(db, query, bind, event_id)
    state = _event_state(query, bind)
    descending = _descending(query)
    if query.order_by == "last_attempt_at":
        limit = bind(query.limit + 1, "UInt32")
        direction = "DESC" if descending else "ASC"
        tail = f"ORDER BY {LAST_ATTEMPT_AGGREGATE} {direction} LIMIT {limit}"
        # Without state filters the page's events are the first ranked; with them, those up
        # to the window's edge are aggregated and filtered.
        ranked = _ranked(db, query, bind, facts, edge, None if state or edge else limit)
        if query.cursor is not None:
            state.append(
                _bound(
                    LAST_ATTEMPT_AGGREGATE, query.cursor[1], "<" if descending else ">", bind, True
                )
            )
        facts = [*facts, f"event_id IN ({ranked})"]
        text = (
            f"SELECT {EVENT_COLUMNS} FROM (SELECT event_id, {EVENT_AGGREGATES} "
            f"FROM {ident(db)}.event_log WHERE {' AND '.join(facts)} GROUP BY event_id) "
            f"{'WHERE ' + ' AND '.join(state) if state else ''} {tail}"
        )
        return Sql(text, bind.params)
    cursor, tail = _page(query, "event_id", bind)
    if edge is not None:
        cursor.append(f"event_id {'>=' if descending else '<='} {bind(edge)}")
    log = f"{ident(db)}.event_log WHERE {' AND '.join(facts + cursor)}"
    if not state:
        # Nothing filters on the state: the page's events are known before aggregating, so
        # only their facts are read (the sort key walks them newest first).
        facts.append(f"event_id IN (SELECT DISTINCT event_id FROM {log} {tail})")
    else:
        candidates = _event_candidates(query, bind)
        if candidates:
            facts.append(f"event_id IN (SELECT event_id FROM {log} AND {' AND '.join(candidates)})")
    text = (
        f"SELECT {EVENT_COLUMNS} FROM (SELECT event_id, {EVENT_AGGREGATES} "
        f"FROM {ident(db)}.event_log WHERE {' AND '.join(facts + cursor)} GROUP BY event_id) "
        f"{'WHERE ' + ' AND '.join(state) if state else ''} {tail}"
    )
    return Sql(text, bind.params)


def event_window(db: str, team_id: str, query: EventQuery, size: int) -> Sql:
    """The next `size` candidate events in the page's order after its cursor: their count
    `n` and the farthest one's cursor item `edge` (a page then aggregates only up to it)."""
    bind = _Binder(team_id)
    facts = _event_facts(db, query, bind, None)
    descending = _descending(query)
    farthest = "min" if descending else "max"
    if query.order_by == "last_attempt_at":
        ranked = _ranked(
            db, query, bind, facts, None, bind(size, "UInt32"), f"{LAST_ATTEMPT_ROWS} AS k"
        )
        text = (
            f"SELECT count() AS n, concat(toString(tupleElement({farthest}(k), 1)), ':', "
            f"tupleElement({farthest}(k), 2)) AS edge FROM ({ranked})"
        )
        return Sql(text, bind.params)
    cursor, _ = _page(query, "event_id", bind)
    where = " AND ".join(facts + cursor + _event_candidates(query, bind))
    text = (
        f"SELECT count() AS n, {farthest}(event_id) AS edge FROM ("
        f"SELECT DISTINCT event_id FROM {ident(db)}.event_log WHERE {where} "
        f"ORDER BY event_id {'DESC' if descending else 'ASC'} "
        f"LIMIT {bind(size, 'UInt32')})"
    )
    return Sql(text, bind.params)


def event_data(db: str, team_id: str, event_ids: Sequence[str]) -> Sql:
    """The outgoing request of events: for include_data and for a retry."""
    bind = _Binder(team_id)
    text = (
        "SELECT event_id, team_id, request_id, source_id, connection_id, destination_id, "
        "source_url, method, path, query, headers, header_raw, content_type, body "
        f"FROM {ident(db)}.event_data FINAL WHERE team_id = {{team:String}} "
        f"AND event_id IN {bind(list(event_ids), 'Array(String)')}"
    )
    return Sql(text, bind.params, ("body", "header_raw"))


def attempts_so_far(db: str, team_id: str, event_id: str) -> Sql:
    bind = _Binder(team_id)
    text = (
        f"SELECT uniqExact(attempt_id) AS attempts FROM {ident(db)}.attempts "
        f"WHERE team_id = {{team:String}} AND event_id = {bind(event_id)}"
    )
    return Sql(text, bind.params)


# --- attempts ---------------------------------------------------------------------------------
ATTEMPT_COLUMNS = (
    "attempt_id AS id, event_id, attempt_number, trigger, status, requested_url, http_method, "
    f"response_status, response_latency_ms, error_code, {ms('created_at')} AS created_ms"
)


def list_attempts(db: str, team_id: str, query: AttemptQuery, attempt_id: str | None = None) -> Sql:
    bind = _Binder(team_id)
    where = ["team_id = {team:String}"]
    where += _equal(bind, attempt_id=attempt_id, event_id=query.event_id)
    where += _time_range(query, "created_at", bind)
    cursor, tail = _page(query, "attempt_id", bind)
    columns = ATTEMPT_COLUMNS + (", response_body, response_headers" if query.include_data else "")
    text = (
        f"SELECT {columns} FROM {ident(db)}.attempts FINAL "
        f"WHERE {' AND '.join(where + cursor)} {tail}"
    )
    return Sql(text, bind.params, ("response_body",) if query.include_data else ())


# --- ignored events ---------------------------------------------------------------------------
IGNORED_COLUMNS = (
    "ignored_id AS id, request_id, source_id, connection_id, cause, detail, "
    f"{ms('created_at')} AS created_ms"
)


def list_ignored(db: str, team_id: str, query: IgnoredQuery, ignored_id: str | None = None) -> Sql:
    return _filtered_list(
        db,
        "ignored_events",
        IGNORED_COLUMNS,
        ("ignored_id", "created_at"),
        _Binder(team_id),
        query,
        ignored_id=ignored_id,
        request_id=query.request_id,
        connection_id=query.connection_id,
        cause=query.cause,
    )


# --- issues -----------------------------------------------------------------------------------
ISSUE_TIMES = (
    "first_seen_at",
    "last_seen_at",
    "opened_at",
    "resolved_at",
    "updated_at",
    "paused_at",
)
# The issues table's columns (one list: `rows.ISSUE_COLUMNS`), its times as milliseconds.
ISSUE_SELECT = ", ".join(f"{ms(c)} AS {c}" if c in ISSUE_TIMES else c for c in ISSUE_COLUMNS)


def list_issues(db: str, team_id: str, query: IssueQuery, issue_id: str | None = None) -> Sql:
    return _filtered_list(
        db,
        "issues",
        f"{ISSUE_SELECT}, issue_id AS id",
        ("issue_id", "opened_at"),
        _Binder(team_id),
        query,
        issue_id=issue_id,
        status=query.status,
        type=query.type,
        issue_trigger_id=query.issue_trigger_id,
        connection_id=query.connection_id,
        destination_id=query.destination_id,
    )


def issue_changes(db: str, team_id: str, issue_id: str) -> Sql:
    """An issue's changes, oldest first (its timeline's raw rows)."""
    bind = _Binder(team_id)
    text = (
        f"SELECT version, actor, change, status, count, {ms('changed_at')} AS changed_at "
        f"FROM {ident(db)}.issue_changes FINAL WHERE team_id = {{team:String}} "
        f"AND issue_id = {bind(issue_id)} ORDER BY changed_at, version, actor"
    )
    return Sql(text, bind.params)
