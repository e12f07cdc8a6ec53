"""The endpoint's HTTP handlers and its error middleware (ClickHouse's shapes, not problems)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from projections.analysts.credentials import AnalystView, authenticate
from projections.analysts.protocol import (
    ClickHouseFailure,
    content_type,
    credentials,
    incoming,
    summary,
)
from projections.analysts.runner import AnalystRunner

log = logging.getLogger(__name__)


@dataclass
class Endpoint:
    view: AnalystView
    runner: AnalystRunner


ENDPOINT = web.AppKey("endpoint", Endpoint)


def _base_headers(query_id: str) -> dict[str, str]:
    return {
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Timezone": "UTC",
        "X-ClickHouse-Server-Display-Name": "fasthook",
    }


@web.middleware
async def clickhouse_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ClickHouseFailure as failure:
        failure_out = failure
    except web.HTTPException:
        raise
    except Exception:
        log.exception("analyst query failed unexpectedly")
        failure_out = ClickHouseFailure(1001, "STD_EXCEPTION", "internal error (logged)")
    version = request.app[ENDPOINT].runner.version
    headers = {
        **_base_headers(str(uuid.uuid4())),
        "X-ClickHouse-Exception-Code": str(failure_out.code),
        "Content-Type": "text/plain; charset=UTF-8",
    }
    if failure_out.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ClickHouse", charset="UTF-8"'
    return web.Response(status=failure_out.status, text=failure_out.body(version), headers=headers)


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="Ok.\n")


async def query(request: web.Request) -> web.StreamResponse:
    endpoint = request.app[ENDPOINT]
    params = {key: request.query[key] for key in request.query}  # the first of repeated ones
    body = await request.read() if request.method == "POST" else b""
    asked = incoming(params, body, request.headers)
    if not asked.sql.strip():
        return web.Response(text="Ok.\n")  # what ClickHouse answers a bare GET / (no auth)
    analyst = authenticate(endpoint.view, credentials(request.headers, params))
    answer = await endpoint.runner.run(
        asked, analyst, lambda: request.transport is None or request.transport.is_closing()
    )
    query_id = params.get("query_id") or str(uuid.uuid4())
    response = web.Response(
        body=answer.body,
        headers={
            **_base_headers(query_id),
            "X-ClickHouse-Format": answer.fmt,
            "Content-Type": content_type(answer.fmt),
            "X-ClickHouse-Summary": summary(
                answer.rows_read, answer.bytes_read, 0, len(answer.body), answer.elapsed_s
            ),
        },
    )
    if asked.compress:
        response.enable_compression()
    return response
