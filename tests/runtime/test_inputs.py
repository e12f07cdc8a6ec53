"""The JSON body and query reading every service's routes share, against a real server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from fasthook.embedded import free_port
from runtime.inputs import query_data, read_json_object
from runtime.problems import problems_middleware

LIMIT = 64 * 1024


async def echo_body(request: web.Request) -> web.Response:
    empty = request.query.get("empty") == "object"
    return web.json_response(await read_json_object(request, LIMIT, empty_is_object=empty))


async def echo_query(request: web.Request) -> web.Response:
    return web.json_response(query_data(request))


@pytest.fixture
async def url() -> AsyncIterator[str]:
    app = web.Application(middlewares=[problems_middleware()])
    app.add_routes([web.post("/body", echo_body), web.get("/query", echo_query)])
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def call(method: str, url: str, body: bytes = b"") -> tuple[int, object]:
    async with aiohttp.ClientSession() as http, http.request(method, url, data=body) as answer:
        return answer.status, json.loads(await answer.read())


@pytest.mark.parametrize(
    ("body", "status", "title"),
    [
        (b'{"a": 1}', 200, None),
        (b"", 422, "the body must be a JSON object"),
        (b"[1]", 422, "the body must be a JSON object"),
        (b"{nope", 400, "the body is not valid JSON"),
        (b"\xff", 400, "the body is not valid JSON"),
        (b"[" * 200_000, 422, "the body is over 64 KiB"),
        (b"[" * 60_000, 400, "the body is nested too deeply"),
    ],
)
async def test_a_body_is_one_bounded_json_object(
    url: str, body: bytes, status: int, title: str | None
) -> None:
    got, answer = await call("POST", f"{url}/body", body)
    assert got == status, answer
    if title is not None:
        assert isinstance(answer, dict) and answer["detail"].startswith(title), answer


async def test_an_empty_body_may_mean_no_fields(url: str) -> None:
    assert await call("POST", f"{url}/body?empty=object", b"  ") == (200, {})


async def test_a_repeated_parameter_is_a_list(url: str) -> None:
    got = await call("GET", f"{url}/query?a=1&b=2&b=3&c=")
    assert got == (200, {"a": "1", "b": ["2", "3"], "c": ""})
