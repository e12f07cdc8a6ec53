"""The routes the projections service answers behind the API (it owns ClickHouse), described
once: the API forwards exactly these, and projections serves and documents them (its part of
the OpenAPI document) from this same table, binding each route's name to its handler and
models. A route added here is forwarded, served and documented, or projections refuses to
start (`projections.routes.operations`)."""

from __future__ import annotations

from typing import Literal, NamedTuple

BULK_KINDS: tuple[Literal["events", "requests"], ...] = ("events", "requests")
# A bulk job's id is anything but `plan`, so `…/retry/plan` answers only POST (a GET on it is
# a 405 naming POST, not a lookup of a job called "plan").
JOB_ID = "{id:(?!plan$)[^/]+}"


class QueryRoute(NamedTuple):
    name: str  # which of projections' operations serves it
    method: str
    path: str  # as documented
    summary: str
    tag: str
    status: int = 200
    errors: tuple[int, ...] = (404,)

    @property
    def pattern(self) -> str:
        """The path as aiohttp matches it: a bulk route's kind is a path parameter (the
        handler reads it) and a job id is never `plan`."""
        if not self.path.startswith("/v1/bulk/"):
            return self.path
        kind = self.path.split("/")[3]
        return self.path.replace(f"/{kind}/", f"/{{kind:{kind}}}/", 1).replace("{id}", JOB_ID)


def _bulk(kind: str) -> tuple[QueryRoute, ...]:
    base = f"/v1/bulk/{kind}/retry"
    return (
        QueryRoute(
            f"bulk_retry_{kind}",
            "POST",
            base,
            f"Bulk retry of {kind} by query",
            "Bulk",
            202,
            (422,),
        ),
        QueryRoute(
            f"bulk_list_{kind}",
            "GET",
            base,
            f"List bulk retries of {kind}, newest first",
            "Bulk",
            errors=(422,),
        ),
        QueryRoute(
            f"bulk_plan_{kind}",
            "POST",
            f"{base}/plan",
            f"Count the {kind} a bulk retry would take",
            "Bulk",
            errors=(422,),
        ),
        QueryRoute(
            f"bulk_progress_{kind}", "GET", f"{base}/{{id}}", "A bulk retry's progress", "Bulk"
        ),
        QueryRoute(
            f"bulk_cancel_{kind}",
            "POST",
            f"{base}/{{id}}/cancel",
            "Cancel a bulk retry",
            "Bulk",
            errors=(404, 409),
        ),
    )


QUERY_ROUTES: tuple[QueryRoute, ...] = (
    QueryRoute("list_requests", "GET", "/v1/requests", "List requests", "Requests", errors=(422,)),
    QueryRoute("get_request", "GET", "/v1/requests/{id}", "Get a request", "Requests"),
    QueryRoute("raw_body", "GET", "/v1/requests/{id}/raw_body", "The exact body bytes", "Requests"),
    QueryRoute(
        "request_events", "GET", "/v1/requests/{id}/events", "Events of a request", "Requests"
    ),
    QueryRoute(
        "request_ignored",
        "GET",
        "/v1/requests/{id}/ignored_events",
        "Ignored events of a request",
        "Requests",
    ),
    QueryRoute(
        "retry_request",
        "POST",
        "/v1/requests/{id}/retry",
        "Re-run a request through today's rules",
        "Requests",
        202,
        (404, 409, 422),
    ),
    QueryRoute("list_events", "GET", "/v1/events", "List events", "Events", errors=(422,)),
    QueryRoute("get_event", "GET", "/v1/events/{id}", "Get an event", "Events"),
    QueryRoute(
        "retry_event",
        "POST",
        "/v1/events/{id}/retry",
        "Retry an event (trigger MANUAL)",
        "Events",
        202,
        (404, 409),
    ),
    QueryRoute("list_attempts", "GET", "/v1/attempts", "List attempts", "Attempts", errors=(422,)),
    QueryRoute("get_attempt", "GET", "/v1/attempts/{id}", "Get an attempt", "Attempts"),
    QueryRoute(
        "list_ignored",
        "GET",
        "/v1/ignored-events",
        "List ignored events",
        "Ignored events",
        errors=(422,),
    ),
    QueryRoute(
        "get_ignored", "GET", "/v1/ignored-events/{id}", "Get an ignored event", "Ignored events"
    ),
    QueryRoute("list_issues", "GET", "/v1/issues", "List issues", "Issues", errors=(422,)),
    QueryRoute("get_issue", "GET", "/v1/issues/{id}", "Get an issue", "Issues"),
    QueryRoute(
        "issue_timeline",
        "GET",
        "/v1/issues/{id}/timeline",
        "An issue's timeline: opened, counted, escalated, status changes, resolved; oldest first",
        "Issues",
    ),
    QueryRoute(
        "update_issue",
        "PUT",
        "/v1/issues/{id}",
        "Change an issue's status (IGNORED dismisses it)",
        "Issues",
        errors=(404, 409, 422),
    ),
    QueryRoute(
        "replay_issue",
        "POST",
        "/v1/issues/{id}/replay",
        "Bulk retry of the events the issue counted that are still FAILED (a "
        "transformation issue: bulk replay of its requests)",
        "Issues",
        202,
        (404, 422),
    ),
    QueryRoute(
        "metrics",
        "GET",
        "/v1/metrics",
        "Time series: requests, events, attempts; destinations' error rate and backlog",
        "Metrics",
        errors=(422,),
    ),
    *(route for kind in BULK_KINDS for route in _bulk(kind)),
)
