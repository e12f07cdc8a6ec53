"""One table for the query routes: projections serves and documents exactly the routes the
API forwards, and a route without a handler stops the service at start."""

from __future__ import annotations

import pytest

from api.forward import forwarded_routes
from projections.errors import ProjectionsError
from projections.openapi import openapi_paths
from projections.operations import BINDINGS, operations
from projections.routes import query_routes
from schemas.query_routes import QUERY_ROUTES, QueryRoute


def test_the_api_forwards_what_projections_serves() -> None:
    served = {(r.method, r.path) for r in query_routes() if r.path != "/openapi-paths.json"}
    forwarded = {(r.method, r.path) for r in forwarded_routes()}
    assert served == forwarded == {(r.method, r.pattern) for r in QUERY_ROUTES}


def test_every_route_is_documented_once() -> None:
    documented = [
        (method.upper(), path) for path, ops in openapi_paths()["paths"].items() for method in ops
    ]
    assert sorted(documented) == sorted((r.method, r.path) for r in QUERY_ROUTES)
    names = [r.name for r in QUERY_ROUTES]
    assert len(names) == len(set(names))


def test_a_bulk_route_names_its_kind_and_never_takes_plan_for_an_id() -> None:
    progress = next(r for r in QUERY_ROUTES if r.name == "bulk_progress_requests")
    assert progress.path == "/v1/bulk/requests/retry/{id}"
    assert progress.pattern == "/v1/bulk/{kind:requests}/retry/{id:(?!plan$)[^/]+}"
    plain = next(r for r in QUERY_ROUTES if r.name == "get_event")
    assert plain.pattern == plain.path == "/v1/events/{id}"


def test_a_route_without_a_handler_is_refused() -> None:
    extra = QueryRoute("list_widgets", "GET", "/v1/widgets", "List widgets", "Widgets")
    with pytest.raises(ProjectionsError, match="list_widgets"):
        operations((*QUERY_ROUTES, extra), BINDINGS)
    with pytest.raises(ProjectionsError, match="metrics"):
        operations(tuple(r for r in QUERY_ROUTES if r.name != "metrics"), BINDINGS)
