"""The OpenAPI paths of the routes this service answers behind the API, generated from the
same models that validate their parameters and bodies. The API merges them into its own
`/v1/openapi.json`, so the spec users read covers every route and cannot drift from what
this service enforces."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from projections.handlers import NOT_IN_BULK, RetryRequestBody
from projections.params import AttemptQuery, EventQuery, IgnoredQuery, RequestQuery

REF = "#/components/schemas/{model}"
PROBLEM = {"$ref": "#/components/schemas/Problem"}  # the API's own problem model
OBJECT = {"type": "object"}
RAW_BODY = "/v1/requests/{id}/raw_body"
# The provider's bytes under the provider's content type, whatever it was.
ANY_BYTES = {"*/*": {"schema": {"type": "string", "format": "binary"}}}

# A body: its model, or (for a bulk query) its schema and whether it may be left out.
Body = type[BaseModel] | dict[str, Any] | None
# (method, path, summary, tag, query model, body, success status, error statuses)
Route = tuple[str, str, str, str, type[BaseModel] | None, Body, int, tuple[int, ...]]
# Bodies the handlers read with `read_body`: an empty body is `{}`.
OPTIONAL_BODIES = frozenset({RetryRequestBody})


def bulk_body(kind: str) -> dict[str, Any]:
    """`{"query": {…}}`: the list route's filters (not its paging or presentation); a
    requests job replays accepted requests only."""
    model = EventQuery if kind == "events" else RequestQuery
    schema = model.model_json_schema(ref_template=REF, by_alias=True)
    filters = {name: {k: v for k, v in prop.items() if k != "default"}
               for name, prop in schema["properties"].items() if name not in NOT_IN_BULK}
    if kind == "requests":
        filters["status"] = {"anyOf": [{"const": "accepted"}, {"type": "null"}]}
    return {"type": "object", "required": ["query"], "additionalProperties": False,
            "properties": {"query": {"type": "object", "additionalProperties": False,
                                     "properties": filters}}}

ROUTES: tuple[Route, ...] = (
    ("GET", "/v1/requests", "List requests", "Requests", RequestQuery, None, 200, (422,)),
    ("GET", "/v1/requests/{id}", "Get a request", "Requests", None, None, 200, (404,)),
    ("GET", RAW_BODY, "The exact body bytes", "Requests", None, None, 200, (404,)),
    ("GET", "/v1/requests/{id}/events", "Events of a request", "Requests", None, None, 200,
     (404,)),
    ("GET", "/v1/requests/{id}/ignored_events", "Ignored events of a request", "Requests",
     None, None, 200, (404,)),
    ("POST", "/v1/requests/{id}/retry", "Re-run a request through today's rules", "Requests",
     None, RetryRequestBody, 202, (404, 409, 422)),
    ("GET", "/v1/events", "List events", "Events", EventQuery, None, 200, (422,)),
    ("GET", "/v1/events/{id}", "Get an event", "Events", None, None, 200, (404,)),
    ("POST", "/v1/events/{id}/retry", "Retry an event (trigger MANUAL)", "Events", None, None,
     202, (404, 409)),
    ("GET", "/v1/attempts", "List attempts", "Attempts", AttemptQuery, None, 200, (422,)),
    ("GET", "/v1/attempts/{id}", "Get an attempt", "Attempts", None, None, 200, (404,)),
    ("GET", "/v1/ignored-events", "List ignored events", "Ignored events", IgnoredQuery, None,
     200, (422,)),
    ("GET", "/v1/ignored-events/{id}", "Get an ignored event", "Ignored events", None, None,
     200, (404,)),
    *(
        route
        for kind in ("events", "requests")
        for route in (
            ("POST", f"/v1/bulk/{kind}/retry", f"Bulk retry of {kind} by query", "Bulk",
             None, bulk_body(kind), 202, (422,)),
            ("POST", f"/v1/bulk/{kind}/retry/plan", f"Count the {kind} a bulk retry would take",
             "Bulk", None, bulk_body(kind), 200, (422,)),
            ("GET", f"/v1/bulk/{kind}/retry/{{id}}", "A bulk retry's progress", "Bulk", None,
             None, 200, (404,)),
            ("POST", f"/v1/bulk/{kind}/retry/{{id}}/cancel", "Cancel a bulk retry", "Bulk",
             None, None, 200, (404, 409)),
        )
    ),
)


@cache
def openapi_paths() -> dict[str, Any]:
    """`{"paths": …, "components": {"schemas": …}}` for the API to merge."""
    models = sorted({(m, "validation") for r in ROUTES for m in (r[4], r[5])
                     if isinstance(m, type)}, key=lambda m: m[0].__name__)
    refs, defs = models_json_schema(models, ref_template=REF, by_alias=True)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, tag, query, body, status, errors in ROUTES:
        params: list[dict[str, Any]] = []
        if "{id}" in path:
            params.append({"name": "id", "in": "path", "required": True,
                           "schema": {"type": "string"}})
        if query is not None:
            schema = query.model_json_schema(ref_template=REF, by_alias=True)
            required = set(schema.get("required", []))
            params += [{"name": name, "in": "query", "required": name in required,
                        "schema": {k: v for k, v in prop.items() if k != "default"}}
                       for name, prop in schema["properties"].items()]
        operation: dict[str, Any] = {
            "summary": summary, "tags": [tag], "parameters": params,
            "responses": {
                str(status): {"description": "OK" if status == 200 else "Accepted",
                              "content": ANY_BYTES if path == RAW_BODY else
                              {"application/json": {"schema": OBJECT}}},
                **{str(code): {"description": "Problem", "content": {
                    "application/problem+json": {"schema": PROBLEM}}} for code in errors},
            },
        }
        if body is not None:
            operation["requestBody"] = {
                "required": not (isinstance(body, type) and body in OPTIONAL_BODIES),
                "content": {"application/json": {
                    "schema": body if isinstance(body, dict) else refs[(body, "validation")]}}}
        paths.setdefault(path, {})[method.lower()] = operation
    return {"paths": paths, "components": {"schemas": defs.get("$defs", {})}}
