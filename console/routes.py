"""Every page and action of the console."""

from __future__ import annotations

from aiohttp import web

from console.handlers import auth, bulk, connections, inspect, issues, lists, live, metrics

ID = "{id:[A-Za-z0-9_]+}"


def console_routes() -> list[web.RouteDef]:
    return [
        web.get("/", auth.home),
        web.get("/signin", auth.signin_page),
        web.post("/signin", auth.signin),
        web.post("/signout", auth.signout),
        web.post("/team", auth.switch_team),
        web.get("/events", lists.events_page),
        web.get("/events/tail", live.events_tail),
        web.get(f"/events/{ID}", inspect.event_page),
        web.get(f"/events/{ID}/attempts", inspect.event_attempts),
        web.post(f"/events/{ID}/retry", inspect.retry),
        web.get("/requests", lists.requests_page),
        web.get(f"/requests/{ID}", inspect.request_page),
        web.get(f"/requests/{ID}/raw", inspect.raw_body),
        web.post(f"/requests/{ID}/replay", inspect.replay),
        web.get("/connections", connections.connections_page),
        web.get("/connections/new", connections.connection_edit),
        web.post("/connections/new", connections.connection_save),
        web.get(f"/connections/{ID}/edit", connections.connection_edit),
        web.post(f"/connections/{ID}/edit", connections.connection_save),
        web.post(f"/{{kind}}/{ID}/{{action:pause|unpause|enable|disable}}", connections.act),
        web.get("/{kind:sources|destinations}/new", connections.entity_new),
        web.post("/{kind:sources|destinations}/new", connections.entity_create),
        web.get(f"/{{kind:sources|destinations}}/{ID}/edit", connections.entity_edit),
        web.post(f"/{{kind:sources|destinations}}/{ID}/edit", connections.entity_save),
        web.post("/team/signing-secret", connections.signing_secret),
        web.post("/team/signing-secret/rotate", connections.rotate_secret),
        web.get("/metrics", metrics.metrics_page),
        web.get("/issues", issues.issues_page),
        web.get(f"/issues/{ID}", issues.issue_page),
        web.get(f"/issues/{ID}/live", issues.issue_live),
        web.post(f"/issues/{ID}/status", issues.change_status),
        web.post(f"/issues/{ID}/replay", issues.replay),
        web.get("/bulk", bulk.jobs_page),
        web.post("/bulk/{kind}/plan", bulk.plan),
        web.post("/bulk/{kind}/start", bulk.start),
        web.get(f"/bulk/{{kind}}/{ID}", bulk.job_page),
        web.get(f"/bulk/{{kind}}/{ID}/progress", bulk.job_progress),
        web.post(f"/bulk/{{kind}}/{ID}/cancel", bulk.cancel),
    ]
