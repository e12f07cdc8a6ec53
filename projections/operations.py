"""Projections' one operation table: each route of `schemas.query_routes` (the description the
API forwards by) bound to its handler and the models that validate and document it. The
service's routes (`routes.py`) and its OpenAPI part (`openapi.py`) are both built from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from aiohttp import web
from pydantic import BaseModel

from projections import handlers as h
from projections import issues
from projections import responses as r
from projections.errors import ProjectionsError
from projections.handlers import NOT_IN_BULK, BulkListQuery, RetryRequestBody
from projections.issues import StatusBody
from projections.params import AttemptQuery, EventQuery, IgnoredQuery, IssueQuery, RequestQuery
from projections.timeseries import MetricsQuery
from schemas.query_routes import BULK_KINDS, QUERY_ROUTES, QueryRoute

REF = "#/components/schemas/{model}"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A body: its model, or (for a bulk query) its schema.
Body = type[BaseModel] | dict[str, Any] | None


class Binding(NamedTuple):
    handler: Handler
    answer: type[BaseModel] | None  # None: the raw body bytes
    query: type[BaseModel] | None = None
    body: Body = None
    body_required: bool = True  # False: the handler reads an empty body as `{}`


class Operation(NamedTuple):
    route: QueryRoute
    binding: Binding


def bulk_body(kind: str) -> dict[str, Any]:
    """`{"query": {…}}`: the list route's filters (not its paging or presentation); a
    requests job replays accepted requests only."""
    model = EventQuery if kind == "events" else RequestQuery
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    filters = {
        name: {k: v for k, v in prop.items() if k != "default"}
        for name, prop in schema["properties"].items()
        if name not in NOT_IN_BULK
    }
    properties: dict[str, Any] = {
        "query": {"type": "object", "additionalProperties": False, "properties": filters}
    }
    if kind == "requests":
        filters["status"] = {"anyOf": [{"const": "accepted"}, {"type": "null"}]}
        # As a single request's retry takes it: replayed to these connections only.
        retry = RetryRequestBody.model_json_schema(ref_template=REF)
        properties["connection_ids"] = {
            k: v for k, v in retry["properties"]["connection_ids"].items() if k != "default"
        }
    return {
        "type": "object",
        "required": ["query"],
        "additionalProperties": False,
        "properties": properties,
    }


BINDINGS: dict[str, Binding] = {
    "list_requests": Binding(h.list_requests, r.RequestPage, query=RequestQuery),
    "get_request": Binding(h.get_request, r.Request),
    "raw_body": Binding(h.raw_body, None),
    "request_events": Binding(h.request_events, r.EventPage),
    "request_ignored": Binding(h.request_ignored, r.IgnoredEventPage),
    "retry_request": Binding(
        h.retry_request, r.RequestRetried, body=RetryRequestBody, body_required=False
    ),
    "list_events": Binding(h.list_events, r.EventPage, query=EventQuery),
    "get_event": Binding(h.get_event, r.Event),
    "retry_event": Binding(h.retry_event, r.EventRetried),
    "list_attempts": Binding(h.list_attempts, r.AttemptPage, query=AttemptQuery),
    "get_attempt": Binding(h.get_attempt, r.Attempt),
    "list_ignored": Binding(h.list_ignored, r.IgnoredEventPage, query=IgnoredQuery),
    "get_ignored": Binding(h.get_ignored, r.IgnoredEvent),
    "list_issues": Binding(issues.list_issues_route, r.IssuePage, query=IssueQuery),
    "get_issue": Binding(issues.get_issue, r.Issue),
    "issue_timeline": Binding(issues.issue_timeline, r.IssueTimeline),
    "update_issue": Binding(issues.update_issue, r.Issue, body=StatusBody),
    "replay_issue": Binding(issues.replay_issue, r.BulkJob),
    "metrics": Binding(h.metrics, r.Metrics, query=MetricsQuery),
    **{
        name: binding
        for kind in BULK_KINDS
        for name, binding in (
            (f"bulk_retry_{kind}", Binding(h.bulk_retry, r.BulkJob, body=bulk_body(kind))),
            (f"bulk_list_{kind}", Binding(h.bulk_list, r.BulkJobList, query=BulkListQuery)),
            (f"bulk_plan_{kind}", Binding(h.bulk_plan, r.BulkPlan, body=bulk_body(kind))),
            (f"bulk_progress_{kind}", Binding(h.bulk_progress, r.BulkJob)),
            (f"bulk_cancel_{kind}", Binding(h.bulk_cancel, r.BulkJob)),
        )
    },
}


def operations(
    routes: tuple[QueryRoute, ...] = QUERY_ROUTES, bindings: dict[str, Binding] = BINDINGS
) -> tuple[Operation, ...]:
    """Every described route with its binding; a route without one (or a binding without a
    route) is a programming error caught at start, not a 404 found by a user."""
    unbound = [route.name for route in routes if route.name not in bindings]
    unrouted = set(bindings) - {route.name for route in routes}
    if unbound or unrouted:
        raise ProjectionsError(
            f"query routes without a handler: {unbound}; handlers without "
            f"a route: {sorted(unrouted)}"
        )
    return tuple(Operation(route, bindings[route.name]) for route in routes)


OPERATIONS = operations()
