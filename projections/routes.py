"""Every route of the projections service (the API forwards its query and retry routes here)."""

from __future__ import annotations

from aiohttp import web

from projections import handlers as h
from projections import issues
from projections.openapi import openapi_paths

BULK_KIND = "{kind:events|requests}"
# Any job id but `plan`: `…/retry/plan` is only the POST route, so GET on it is a 405 naming
# POST, not a lookup of a job called "plan".
BULK_ID = "{id:(?!plan$)[^/]+}"


def query_routes() -> list[web.RouteDef]:
    return [
        web.get("/openapi-paths.json", openapi_paths_json),
        web.get("/v1/requests", h.list_requests),
        web.get("/v1/requests/{id}", h.get_request),
        web.get("/v1/requests/{id}/raw_body", h.raw_body),
        web.get("/v1/requests/{id}/events", h.request_events),
        web.get("/v1/requests/{id}/ignored_events", h.request_ignored),
        web.post("/v1/requests/{id}/retry", h.retry_request),
        web.get("/v1/events", h.list_events),
        web.get("/v1/events/{id}", h.get_event),
        web.post("/v1/events/{id}/retry", h.retry_event),
        web.get("/v1/attempts", h.list_attempts),
        web.get("/v1/attempts/{id}", h.get_attempt),
        web.get("/v1/ignored-events", h.list_ignored),
        web.get("/v1/ignored-events/{id}", h.get_ignored),
        web.post(f"/v1/bulk/{BULK_KIND}/retry", h.bulk_retry),
        web.get(f"/v1/bulk/{BULK_KIND}/retry", h.bulk_list),
        web.post(f"/v1/bulk/{BULK_KIND}/retry/plan", h.bulk_plan),
        web.get(f"/v1/bulk/{BULK_KIND}/retry/{BULK_ID}", h.bulk_progress),
        web.post(f"/v1/bulk/{BULK_KIND}/retry/{BULK_ID}/cancel", h.bulk_cancel),
        web.get("/v1/issues", issues.list_issues_route),
        web.get("/v1/issues/{id}", issues.get_issue),
        web.get("/v1/issues/{id}/timeline", issues.issue_timeline),
        web.put("/v1/issues/{id}", issues.update_issue),
        web.post("/v1/issues/{id}/replay", issues.replay_issue),
        web.get("/v1/metrics", h.metrics),
    ]


async def openapi_paths_json(_: web.Request) -> web.Response:
    return web.json_response(openapi_paths())
