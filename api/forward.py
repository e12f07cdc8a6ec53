"""The query, retry and replay routes live in the projections service (it owns ClickHouse);
the API authenticates the caller and forwards them there with the caller's team, so users see
one API. Projections believes that team header only beside the hop credential derived from
FASTHOOK_SECRET_KEY (runtime.secrets), which nobody but the services can compute."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from api.app_keys import SETTINGS, TEAM_ID
from api.errors import Unavailable
from runtime.secrets import PROJECTIONS_TOKEN_HEADER, TEAM_HEADER, projections_token
from schemas.query_routes import QUERY_ROUTES

log = logging.getLogger(__name__)

HTTP = web.AppKey("http", aiohttp.ClientSession)
HOP_TOKEN = web.AppKey("projections_token", str)
PASSED_BACK = (
    "Content-Type",
    "Content-Disposition",
    "X-Content-Type-Options",
    "Content-Security-Policy",
)


async def http_ctx(app: web.Application) -> AsyncIterator[None]:
    app[HOP_TOKEN] = projections_token(app[SETTINGS].secret_key)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app[HTTP] = session
        yield


def projections_url(app: web.Application, raw_path: str) -> URL:
    settings = app[SETTINGS]
    return URL(
        f"http://{settings.projections_host}:{settings.projections_port}{raw_path}", encoded=True
    )


def hop_headers(app: web.Application) -> dict[str, str]:
    """What every call to projections carries: the hop credential."""
    return {PROJECTIONS_TOKEN_HEADER: app[HOP_TOKEN]}


async def forward(request: web.Request) -> web.Response:
    # The raw path and query exactly as the client sent them.
    url = projections_url(request.app, request.raw_path)
    headers = {**hop_headers(request.app), TEAM_HEADER: request[TEAM_ID]}
    if "Content-Type" in request.headers:
        headers["Content-Type"] = request.headers["Content-Type"]
    try:
        async with request.app[HTTP].request(
            request.method,
            url,
            headers=headers,
            data=await request.read(),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as answer:
            body = await answer.read()
            if answer.status == 401:
                # The caller was authenticated here: projections refused the API itself.
                log.error(
                    "projections refused the API's hop credential: is "
                    "FASTHOOK_SECRET_KEY the same in both services?"
                )
                raise Unavailable("the query service refused this API; try again shortly")
            passed = {k: answer.headers[k] for k in PASSED_BACK if k in answer.headers}
            return web.Response(status=answer.status, body=body, headers=passed)
    except (aiohttp.ClientError, TimeoutError):
        raise Unavailable("the query service is not reachable; try again shortly") from None


def forwarded_routes() -> list[web.RouteDef]:
    return [web.route(route.method, route.pattern, forward) for route in QUERY_ROUTES]
