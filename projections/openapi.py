"""The OpenAPI paths of the routes this service answers behind the API, generated from the
same models that validate their parameters and bodies. The API merges them into its own
`/v1/openapi.json`, so the spec users read covers every route and cannot drift from what
this service enforces."""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from projections import responses as r
from projections.handlers import NOT_IN_BULK, BulkListQuery, RetryRequestBody
from projections.issues import StatusBody
from projections.params import AttemptQuery, EventQuery, IgnoredQuery, IssueQuery, RequestQuery
from projections.timeseries import MetricsQuery

REF = "#/components/schemas/{model}"
PROBLEM = {"$ref": "#/components/schemas/Problem"}  # the API's own problem model
RAW_BODY = "/v1/requests/{id}/raw_body"
# The provider's bytes under the provider's content type, whatever it was.
ANY_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}

# A body: its model, or (for a bulk query) its schema.
Body = type[BaseModel] | dict[str, Any] | None
# Bodies the handlers read with `read_body`: an empty body is `{}`.
OPTIONAL_BODIES = frozenset({RetryRequestBody})


class Route(NamedTuple):
    method: str
    path: str
    summary: str
    tag: str
    query: type[BaseModel] | None
    body: Body
    answer: type[BaseModel] | None  # None: the raw body bytes
    status: int
    errors: tuple[int, ...]


def bulk_body(kind: str) -> dict[str, Any]:
    """`{"query": {…}}`: the list route's filters (not its paging or presentation); a
    requests job replays accepted requests only."""
    model = EventQuery if kind == "events" else RequestQuery
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    filters = {name: {k: v for k, v in prop.items() if k != "default"}
               for name, prop in schema["properties"].items() if name not in NOT_IN_BULK}
    properties: dict[str, Any] = {"query": {"type": "object", "additionalProperties": False,
                                            "properties": filters}}
    if kind == "requests":
        filters["status"] = {"anyOf": [{"const": "accepted"}, {"type": "null"}]}
        # As a single request's retry takes it: replayed to these connections only.
        retry = RetryRequestBody.model_json_schema(ref_template=REF)
        properties["connection_ids"] = {k: v for k, v in
                                        retry["properties"]["connection_ids"].items()
                                        if k != "default"}
    return {"type": "object", "required": ["query"], "additionalProperties": False,
            "properties": properties}


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/requests", "List requests", "Requests", RequestQuery, None,
          r.RequestPage, 200, (422,)),
    Route("GET", "/v1/requests/{id}", "Get a request", "Requests", None, None, r.Request, 200,
          (404,)),
    Route("GET", RAW_BODY, "The exact body bytes", "Requests", None, None, None, 200, (404,)),
    Route("GET", "/v1/requests/{id}/events", "Events of a request", "Requests", None, None,
          r.EventPage, 200, (404,)),
    Route("GET", "/v1/requests/{id}/ignored_events", "Ignored events of a request",
          "Requests", None, None, r.IgnoredEventPage, 200, (404,)),
    Route("POST", "/v1/requests/{id}/retry", "Re-run a request through today's rules",
          "Requests", None, RetryRequestBody, r.RequestRetried, 202, (404, 409, 422)),
    Route("GET", "/v1/events", "List events", "Events", EventQuery, None, r.EventPage, 200,
          (422,)),
    Route("GET", "/v1/events/{id}", "Get an event", "Events", None, None, r.Event, 200,
          (404,)),
    Route("POST", "/v1/events/{id}/retry", "Retry an event (trigger MANUAL)", "Events", None,
          None, r.EventRetried, 202, (404, 409)),
    Route("GET", "/v1/attempts", "List attempts", "Attempts", AttemptQuery, None,
          r.AttemptPage, 200, (422,)),
    Route("GET", "/v1/attempts/{id}", "Get an attempt", "Attempts", None, None, r.Attempt,
          200, (404,)),
    Route("GET", "/v1/ignored-events", "List ignored events", "Ignored events", IgnoredQuery,
          None, r.IgnoredEventPage, 200, (422,)),
    Route("GET", "/v1/ignored-events/{id}", "Get an ignored event", "Ignored events", None,
          None, r.IgnoredEvent, 200, (404,)),
    Route("GET", "/v1/issues", "List issues", "Issues", IssueQuery, None, r.IssuePage, 200,
          (422,)),
    Route("GET", "/v1/issues/{id}", "Get an issue", "Issues", None, None, r.Issue, 200,
          (404,)),
    Route("GET", "/v1/issues/{id}/timeline", "An issue's timeline: opened, counted, "
          "escalated, status changes, resolved; oldest first", "Issues", None, None,
          r.IssueTimeline, 200, (404,)),
    Route("PUT", "/v1/issues/{id}", "Change an issue's status (IGNORED dismisses it)",
          "Issues", None, StatusBody, r.Issue, 200, (404, 409, 422)),
    Route("POST", "/v1/issues/{id}/replay",
          "Bulk retry of the events the issue counted that are still FAILED (a transformation "
          "issue: bulk replay of its requests)", "Issues", None,
          None, r.BulkJob, 202, (404, 422)),
    Route("GET", "/v1/metrics", "Time series: requests, events, attempts; destinations' "
          "error rate and backlog", "Metrics", MetricsQuery, None, r.Metrics, 200, (422,)),
    *(
        route
        for kind in ("events", "requests")
        for route in (
            Route("POST", f"/v1/bulk/{kind}/retry", f"Bulk retry of {kind} by query", "Bulk",
                  None, bulk_body(kind), r.BulkJob, 202, (422,)),
            Route("GET", f"/v1/bulk/{kind}/retry", f"List bulk retries of {kind}, newest first",
                  "Bulk", BulkListQuery, None, r.BulkJobList, 200, (422,)),
            Route("POST", f"/v1/bulk/{kind}/retry/plan",
                  f"Count the {kind} a bulk retry would take", "Bulk", None, bulk_body(kind),
                  r.BulkPlan, 200, (422,)),
            Route("GET", f"/v1/bulk/{kind}/retry/{{id}}", "A bulk retry's progress", "Bulk",
                  None, None, r.BulkJob, 200, (404,)),
            Route("POST", f"/v1/bulk/{kind}/retry/{{id}}/cancel", "Cancel a bulk retry",
                  "Bulk", None, None, r.BulkJob, 200, (404, 409)),
        )
    ),
)


@cache
def openapi_paths() -> dict[str, Any]:
    """`{"paths": …, "components": {"schemas": …}}` for the API to merge."""
    models = {(m, "validation") for route in ROUTES for m in (route.query, route.body)
              if isinstance(m, type)}
    models |= {(route.answer, "serialization") for route in ROUTES if route.answer}
    refs, defs = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])),
                                    ref_template=REF, by_alias=True)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        params: list[dict[str, Any]] = []
        if "{id}" in route.path:
            params.append({"name": "id", "in": "path", "required": True,
                           "schema": {"type": "string"}})
        if route.query is not None:
            schema = route.query.model_json_schema(ref_template=REF, by_alias=True)
            required = set(schema.get("required", []))
            params += [{"name": name, "in": "query", "required": name in required,
                        "schema": {k: v for k, v in prop.items() if k != "default"}}
                       for name, prop in schema["properties"].items()]
        answer = ANY_BYTES if route.answer is None else {
            "application/json": {"schema": refs[(route.answer, "serialization")]}}
        operation: dict[str, Any] = {
            "summary": route.summary, "tags": [route.tag], "parameters": params,
            "responses": {
                str(route.status): {"description": "OK" if route.status == 200 else "Accepted",
                                    "content": answer},
                **{str(code): {"description": "Problem", "content": {
                    "application/problem+json": {"schema": PROBLEM}}} for code in route.errors},
            },
        }
        body = route.body
        if body is not None:
            operation["requestBody"] = {
                "required": not (isinstance(body, type) and body in OPTIONAL_BODIES),
                "content": {"application/json": {
                    "schema": body if isinstance(body, dict) else refs[(body, "validation")]}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {"paths": paths, "components": {"schemas": defs.get("$defs", {})}}
