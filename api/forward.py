"""The query, retry and replay routes live in the projections service (it owns ClickHouse);
the API authenticates the caller and forwards them there with the caller's team, so users see
one API. The projections service trusts that team header: it listens on loopback/private
networks only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from api.errors import Unavailable
from api.keys import SETTINGS, TEAM_ID

TEAM_HEADER = "x-fasthook-team-id"
HTTP = web.AppKey("http", aiohttp.ClientSession)
PASSED_BACK = ("Content-Type", "Content-Disposition", "X-Content-Type-Options",
               "Content-Security-Policy")

# (method, path) served by the projections service.
FORWARDED: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/requests"),
    ("GET", "/v1/requests/{id}"),
    ("GET", "/v1/requests/{id}/raw_body"),
    ("GET", "/v1/requests/{id}/events"),
    ("GET", "/v1/requests/{id}/ignored_events"),
    ("POST", "/v1/requests/{id}/retry"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/{id}"),
    ("POST", "/v1/events/{id}/retry"),
    ("GET", "/v1/attempts"),
    ("GET", "/v1/attempts/{id}"),
    ("GET", "/v1/ignored-events"),
    ("GET", "/v1/ignored-events/{id}"),
    *((method, f"/v1/bulk/{kind}/retry{tail}") for kind in ("events", "requests")
      for method, tail in (("POST", ""), ("POST", "/plan"), ("GET", "/{id}"),
                           ("POST", "/{id}/cancel"))),
)


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app[HTTP] = session
        yield


async def forward(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    # The raw path and query exactly as the client sent them.
    url = URL(f"http://{settings.projections_host}:{settings.projections_port}"
              f"{request.raw_path}", encoded=True)
    headers = {TEAM_HEADER: request[TEAM_ID]}
    if "Content-Type" in request.headers:
        headers["Content-Type"] = request.headers["Content-Type"]
    try:
        async with request.app[HTTP].request(
            request.method, url, headers=headers, data=await request.read(),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as answer:
            body = await answer.read()
            passed = {k: answer.headers[k] for k in PASSED_BACK if k in answer.headers}
            return web.Response(status=answer.status, body=body, headers=passed)
    except (aiohttp.ClientError, TimeoutError):
        raise Unavailable("the query service is not reachable; try again shortly") from None


def forwarded_routes() -> list[web.RouteDef]:
    return [web.route(method, path, forward) for method, path in FORWARDED]
