"""Every route of the projections service, from its operation table (the API forwards the
same routes, read from `schemas.query_routes`)."""

from __future__ import annotations

from aiohttp import web

from projections.openapi import openapi_paths
from projections.operations import OPERATIONS


def query_routes() -> list[web.RouteDef]:
    return [
        web.get("/openapi-paths.json", openapi_paths_json),
        *(web.route(route.method, route.pattern, binding.handler) for route, binding in OPERATIONS),
    ]


async def openapi_paths_json(_: web.Request) -> web.Response:
    return web.json_response(openapi_paths())
