"""The query and retry routes. Every query is scoped to the caller's team; an id of another
team is a 404 like an unknown id."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from projections import queries, timeseries
from projections.bulk_jobs import Job, Kind
from projections.event_pages import event_rows
from projections.keys import (
    BULK,
    DATABASE,
    ENGINE,
    METRICS,
    PRODUCER,
    PROJECTOR,
    SETTINGS,
    TEAM_ID,
)
from projections.mappers import (
    attempt_model,
    event_model,
    ignored_model,
    manual_event,
    replayed_request,
    request_model,
)
from projections.params import (
    AttemptQuery,
    EventQuery,
    Id,
    IgnoredQuery,
    ListQuery,
    RequestQuery,
    event_cursor_item,
    paginate,
)
from runtime.inputs import query_data, read_json_object
from runtime.problems import Conflict, NotFound, Unavailable, Unprocessable
from schemas.codec import Fields, encode
from schemas.ids import new_id

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 64 * 1024
# Paging and presentation, not filters.
NOT_IN_BULK = ("limit", "next", "prev", "include_data", "order_by", "after_batch")
TAIL_WAIT_S = 20.0  # below the API's 30 s forwarding timeout
REPLICA_TAIL_WAIT_S = 1.0


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The list route's filters; required, so an empty body is not a bulk retry of everything.
    query: dict[str, Any]
    # Requests only: replayed to these connections (as POST /v1/requests/{id}/retry takes).
    connection_ids: Annotated[list[Id], Field(min_length=1, max_length=100)] | None = None


class BulkListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=250)] = 50
    status: Literal["QUEUED", "RUNNING", "COMPLETED", "CANCELLED"] | None = None


class RetryRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection_ids: Annotated[list[Id], Field(min_length=1, max_length=100)] | None = None


def _path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(query)"


def read_query(request: web.Request, model: type[M], **fixed: Any) -> M:
    """The query string as `model`; a repeated parameter is a list (and so refused)."""
    try:
        return model.model_validate({**query_data(request), **fixed})
    except ValidationError as exc:
        raise Unprocessable(
            "the query has invalid parameters",
            [(_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()],
        ) from None


async def read_body(request: web.Request, model: type[M]) -> M:
    data = await read_json_object(request, MAX_BODY, empty_is_object=True)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(
            "the body has invalid fields",
            [(_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()],
        ) from None


async def fetch(request: web.Request, sql: queries.Sql) -> list[dict[str, Any]]:
    return await request.app[ENGINE].query(sql.text, sql.params, bytes_columns=sql.bytes_columns)


def ctx(request: web.Request) -> tuple[str, str]:
    return request.app[DATABASE], request[TEAM_ID]


def _one(rows: list[dict[str, Any]], what: str, item_id: str) -> dict[str, Any]:
    if not rows:
        raise NotFound(f"no {what} {item_id}")
    return rows[0]


# --- requests ---------------------------------------------------------------------------------
async def _with_counts(
    request: web.Request, rows: list[dict[str, Any]]
) -> dict[str, dict[str, int]]:
    if not rows:
        return {}
    db, team = ctx(request)
    counted = await fetch(request, queries.request_counts(db, team, [r["id"] for r in rows]))
    return {r["request_id"]: r for r in counted}


async def list_requests(request: web.Request) -> web.Response:
    query = read_query(request, RequestQuery)
    with request.app[METRICS].query_seconds.labels("requests").time():
        db, team = ctx(request)
        body = paginate(await fetch(request, queries.list_requests(db, team, query)), query)
        counts = await _with_counts(request, body["models"])
    body["models"] = [request_model(r, counts.get(r["id"], {})) for r in body["models"]]
    return web.json_response(body)


async def get_request(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    db, team = ctx(request)
    request_id = request.match_info["id"]
    query = RequestQuery(include_data=True, limit=1)
    row = _one(
        await fetch(request, queries.list_requests(db, team, query, request_id)),
        "request",
        request_id,
    )
    counts = await _with_counts(request, [row])
    return web.json_response(request_model(row, counts.get(row["id"], {})))


async def _request_record(request: web.Request) -> dict[str, Any]:
    db, team = ctx(request)
    request_id = request.match_info["id"]
    return _one(
        await fetch(request, queries.request_record(db, team, request_id)), "request", request_id
    )


async def raw_body(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    row = await _request_record(request)
    content_type = next(
        (h["value"] for h in row["headers"] if h["name"].lower() == "content-type"),
        "application/octet-stream",
    )
    # The provider's bytes under the provider's content type; never let a browser run them.
    return web.Response(
        body=row["body"],
        headers={
            "Content-Type": content_type,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


async def request_events(request: web.Request) -> web.Response:
    await _request_record(request)  # 404 for an unknown request, not an empty list
    return await _list_events(request, request_id=request.match_info["id"])


async def request_ignored(request: web.Request) -> web.Response:
    await _request_record(request)
    return await _list_ignored(request, request_id=request.match_info["id"])


async def retry_request(request: web.Request) -> web.Response:
    body = await read_body(request, RetryRequestBody)
    row = await _request_record(request)
    if row["status"] != "accepted":
        raise Conflict(
            f"request {row['request_id']} was rejected ({row['rejection_cause']}); "
            "only accepted requests are routed"
        )
    now = int(time.time() * 1000)
    record = replayed_request(row, new_id("req", now), now, body.connection_ids)
    settings = request.app[SETTINGS]
    await _publish(
        request, settings.topics.requests, record["request_id"], "RequestReceived", record
    )
    request.app[METRICS].retries.labels("request").inc()
    return web.json_response(
        {
            "request_id": record["request_id"],
            "replay_of": row["request_id"],
            "connection_ids": body.connection_ids,
        },
        status=202,
    )


async def _publish(request: web.Request, topic: str, key: str, name: str, record: Fields) -> None:
    try:
        await request.app[PRODUCER].send_and_wait(topic, encode(name, record), key=key.encode())
    except KafkaError as exc:
        raise Unavailable(f"the broker did not store the retry: {exc}") from None


# --- events -----------------------------------------------------------------------------------
async def _list_events(request: web.Request, **fixed: Any) -> web.Response:
    query = read_query(request, EventQuery, **fixed)
    db, team = ctx(request)
    projector = request.app.get(PROJECTOR)
    if projector is None:
        # A query replica has no projector to wake it: the tail polls at a slower beat.
        if query.after_batch is not None:
            await asyncio.sleep(REPLICA_TAIL_WAIT_S)
        batch = 0
    else:
        if query.after_batch is not None:
            await projector.events_written_after(query.after_batch, TAIL_WAIT_S)
        batch = projector.event_batches  # read before the query: a later batch is not missed
    with request.app[METRICS].query_seconds.labels("events").time():
        rows = await event_rows(partial(fetch, request), db, team, query)
        body = paginate(rows, query, lambda row: event_cursor_item(row, query.order_by))
        data = {}
        if query.include_data and body["models"]:
            ids = [r["id"] for r in body["models"]]
            data = {
                d["event_id"]: d for d in await fetch(request, queries.event_data(db, team, ids))
            }
    body["models"] = [event_model(r, data.get(r["id"]), query.include_data) for r in body["models"]]
    return web.json_response({**body, "batch": batch})


async def list_events(request: web.Request) -> web.Response:
    return await _list_events(request)


async def get_event(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    db, team = ctx(request)
    event_id = request.match_info["id"]
    rows = await fetch(request, queries.list_events(db, team, EventQuery(limit=1), event_id))
    row = _one(rows, "event", event_id)
    data = await fetch(request, queries.event_data(db, team, [event_id]))
    return web.json_response(event_model(row, data[0] if data else None, True))


async def retry_event(request: web.Request) -> web.Response:
    await read_body(request, NoParams)
    db, team = ctx(request)
    event_id = request.match_info["id"]
    stored = await fetch(request, queries.event_data(db, team, [event_id]))
    if not stored:
        known = await fetch(request, queries.list_events(db, team, EventQuery(limit=1), event_id))
        _one(known, "event", event_id)
        raise Conflict(f"event {event_id}'s request is no longer stored; retry its request")
    [counted] = await fetch(request, queries.attempts_so_far(db, team, event_id))
    record = manual_event(stored[0], int(counted["attempts"]), int(time.time() * 1000))
    await _publish(request, request.app[SETTINGS].topics.events, event_id, "EventCreated", record)
    request.app[METRICS].retries.labels("event").inc()
    return web.json_response(
        {
            "event_id": event_id,
            "attempt_number": record["attempt_number"],
            "trigger": record["trigger"],
            "status": "QUEUED",
        },
        status=202,
    )


# --- attempts and ignored events --------------------------------------------------------------
async def list_attempts(request: web.Request) -> web.Response:
    query = read_query(request, AttemptQuery)
    db, team = ctx(request)
    with request.app[METRICS].query_seconds.labels("attempts").time():
        body = paginate(await fetch(request, queries.list_attempts(db, team, query)), query)
    body["models"] = [attempt_model(r) for r in body["models"]]
    return web.json_response(body)


async def get_attempt(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    db, team = ctx(request)
    attempt_id = request.match_info["id"]
    query = AttemptQuery(limit=1, include_data=True)
    rows = await fetch(request, queries.list_attempts(db, team, query, attempt_id))
    return web.json_response(attempt_model(_one(rows, "attempt", attempt_id)))


async def _list_ignored(request: web.Request, **fixed: Any) -> web.Response:
    query = read_query(request, IgnoredQuery, **fixed)
    db, team = ctx(request)
    with request.app[METRICS].query_seconds.labels("ignored").time():
        body = paginate(await fetch(request, queries.list_ignored(db, team, query)), query)
    body["models"] = [ignored_model(r) for r in body["models"]]
    return web.json_response(body)


async def list_ignored(request: web.Request) -> web.Response:
    return await _list_ignored(request)


async def get_ignored(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    db, team = ctx(request)
    ignored_id = request.match_info["id"]
    rows = await fetch(request, queries.list_ignored(db, team, IgnoredQuery(limit=1), ignored_id))
    return web.json_response(ignored_model(_one(rows, "ignored event", ignored_id)))


# --- bulk retries -----------------------------------------------------------------------------
def _kind(request: web.Request) -> Kind:
    return "events" if request.match_info["kind"] == "events" else "requests"


async def _bulk_query(request: web.Request) -> tuple[dict[str, Any], list[str] | None]:
    body = await read_body(request, BulkBody)
    if body.connection_ids is not None and _kind(request) == "events":
        raise Unprocessable(
            "an event belongs to one connection already",
            [("connection_ids", "only a bulk retry of requests takes it")],
        )
    return _bulk_filters(_kind(request), body.query), body.connection_ids


def _bulk_filters(kind: Kind, raw: dict[str, Any]) -> dict[str, Any]:
    """A bulk query validated by the list route's model, as stored in the job: the filters
    given, in their JSON form. Unknown filters and paging parameters are a 422 naming them."""
    errors = [
        (f"query.{name}", "not allowed in a bulk query") for name in raw if name in NOT_IN_BULK
    ]
    if errors:
        raise Unprocessable("the bulk query has invalid filters", errors)
    model: type[ListQuery] = EventQuery if kind == "events" else RequestQuery
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        raise Unprocessable(
            "the bulk query has invalid filters",
            [("query." + _path(tuple(e["loc"])), e["msg"]) for e in exc.errors()],
        ) from None
    # A filter given as null is a filter not given.
    query = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    if kind == "requests":
        # Only accepted requests are routed, so only they can be replayed (as one retry).
        if query.get("status", "accepted") != "accepted":
            raise Unprocessable(
                "only accepted requests can be replayed",
                [("query.status", "must be accepted (or left out)")],
            )
        query["status"] = "accepted"
    return query


def _bulk_job(request: web.Request) -> Job:
    job_id = request.match_info["id"]
    job = request.app[BULK].jobs.get(job_id)
    # Another team's job, or another kind's, is unknown here like any other id.
    if job is None or job.team_id != request[TEAM_ID] or job.kind != _kind(request):
        raise NotFound(f"no bulk retry {job_id}")
    return job


async def bulk_retry(request: web.Request) -> web.Response:
    query, connection_ids = await _bulk_query(request)
    try:
        job = await request.app[BULK].create(
            _kind(request), request[TEAM_ID], query, connection_ids
        )
    except KafkaError as exc:
        raise Unavailable(f"the broker did not store the bulk retry: {exc}") from None
    return web.json_response(job.model(), status=202)


async def bulk_plan(request: web.Request) -> web.Response:
    query, _ = await _bulk_query(request)
    count = await request.app[BULK].estimate(_kind(request), request[TEAM_ID], query)
    return web.json_response({"estimated_count": count})


async def bulk_list(request: web.Request) -> web.Response:
    """The team's jobs of this kind, newest first (every job is held in memory)."""
    query = read_query(request, BulkListQuery)
    kind, team = _kind(request), request[TEAM_ID]
    jobs = sorted(
        (
            j
            for j in request.app[BULK].jobs.values()
            if j.team_id == team and j.kind == kind and query.status in (None, j.status)
        ),
        key=lambda j: j.id,
        reverse=True,
    )[: query.limit]
    return web.json_response({"models": [j.model() for j in jobs], "count": len(jobs)})


async def bulk_progress(request: web.Request) -> web.Response:
    read_query(request, NoParams)
    return web.json_response(_bulk_job(request).model())


async def bulk_cancel(request: web.Request) -> web.Response:
    await read_body(request, NoParams)
    job = _bulk_job(request)
    try:
        job = await request.app[BULK].cancel(job)
    except TimeoutError:
        raise Unavailable("the bulk retry did not stop in time; cancel again") from None
    if job.status == "COMPLETED":
        raise Conflict(f"bulk retry {job.id} already completed")
    return web.json_response(job.model())


# --- metrics ----------------------------------------------------------------------------------
async def metrics(request: web.Request) -> web.Response:
    query = read_query(request, timeseries.MetricsQuery)
    db, team = ctx(request)
    now_ms = int(time.time() * 1000)
    start_ms, end_ms = query.range_ms()
    bucket_s = query.bucket(start_ms, end_ms)
    params = timeseries.params(team, start_ms, end_ms, bucket_s)
    with request.app[METRICS].query_seconds.labels("metrics").time():
        rows = [
            await fetch(request, build(db, params))
            for build in (
                timeseries.requests_sql,
                timeseries.events_sql,
                timeseries.attempts_sql,
                timeseries.destination_attempts_sql,
                timeseries.backlog_sql,
            )
        ]
    return web.json_response(timeseries.shape(start_ms, end_ms, bucket_s, now_ms, *rows))
