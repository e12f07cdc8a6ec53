"""The lean server's pure parts (ingress/wire.py): its routing agrees with aiohttp's router on
any target, and an answer's head parses back to what was written."""

from __future__ import annotations

import asyncio

import httptools
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from ingress.routes import SOURCE_ROUTES
from ingress.wire import (
    NOT_FOUND,
    PROBE,
    SOURCE,
    HeadLimits,
    answer_head,
    origin_form,
    plain_answer,
    route,
)

pytestmark = pytest.mark.pure

PATH_CHARS = "abcdefgh0123456789zAZ/%2fF5.-_~?#é"
PATHS = st.lists(
    st.sampled_from(["abcdefgh", "%2F", "%2f", "%25", "%61", "/", "%", "?", "é", "Z"]), max_size=8
).map("".join) | st.text(PATH_CHARS, max_size=80)


async def _nothing(_: web.Request) -> web.Response:
    return web.Response()


def aiohttp_app() -> web.Application:
    app = web.Application()
    app.add_routes([*SOURCE_ROUTES, web.get("/healthz", _nothing), web.get("/readyz", _nothing)])
    return app


APP = aiohttp_app()


async def aiohttp_route(target: str) -> tuple[str, str | None]:
    # The target as aiohttp's HTTP parser makes it a URL (not `URL(target)`, which reads
    # "//x" as a host).
    path, _, query = target.partition("?")
    url = URL.build(path=path.partition("#")[0], query_string=query, encoded=True)
    request = make_mocked_request("GET", "/", app=APP).clone(rel_url=url)
    match = await APP.router.resolve(request)
    if match.http_exception is not None:
        return NOT_FOUND, None
    if "token" in match:
        return SOURCE, match["token"]
    return PROBE, None


@settings(max_examples=300, deadline=None)
@given(PATHS)
def test_routes_as_aiohttps_router_does(tail: str) -> None:
    target = "/" + tail
    try:
        expected = asyncio.run(aiohttp_route(target))
    except ValueError:  # a target yarl refuses never reaches a handler
        return
    found = route(target)
    assert found.kind == expected[0], (target, found)
    if found.kind == SOURCE:
        assert found.name == expected[1]


@pytest.mark.parametrize(
    "target",
    ["/abcdefgh%2Fx", "/abcdefgh%2f", "/abcdefgh%25", "/%61bcdefgh", "/abcdefgh/%2F", "/a%C3"],
)
def test_escapes_route_as_aiohttps_router_does(target: str) -> None:
    expected = asyncio.run(aiohttp_route(target))
    assert (route(target).kind, route(target).name if expected[1] else None) == expected


@pytest.mark.parametrize("target", ["/healthz", "/readyz", "/healthz?x=1"])
def test_probes_are_routed_by_path(target: str) -> None:
    assert route(target).kind == PROBE


class _Parsed:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.keep_alive: bool | None = None
        self.parser: httptools.HttpResponseParser | None = None

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body


HEADER_NAMES = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20).filter(
    lambda n: n.lower() not in ("content-length", "connection", "transfer-encoding", "date")
)
HEADER_VALUES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)


@given(
    status=st.sampled_from([200, 201, 401, 404, 405, 408, 410, 413, 431, 503]),
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    body=st.binary(max_size=200),
    keep_alive=st.booleans(),
    version=st.sampled_from(["1.0", "1.1"]),
)
def test_an_answer_head_parses_back(
    status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool, version: str
) -> None:
    parsed = _Parsed()
    parser = parsed.parser = httptools.HttpResponseParser(parsed)
    date = b"Sun, 29 Nov 2026 21:00:00 GMT"
    parser.feed_data(answer_head(version, status, headers, len(body), keep_alive, date) + body)
    assert parser.get_status_code() == status
    assert parser.get_http_version() == version
    assert parsed.keep_alive == keep_alive
    assert parsed.body == body
    assert parsed.headers[: len(headers)] == [(n.encode(), v.encode()) for n, v in headers]
    assert (b"Date", date) in parsed.headers


def test_an_answer_keeps_no_framing_of_its_own() -> None:
    head = answer_head("1.1", 200, [("Content-Length", "99"), ("Connection", "x")], 2, True, b"d")
    assert b"Content-Length: 2\r\n" in head and b"99" not in head and b"Connection" not in head


def test_the_servers_own_answers_close() -> None:
    answer = plain_answer(400)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close\r\n" in answer and answer.endswith(b"\r\n\r\n400: Bad Request")


@given(
    count=st.integers(1, 200),
    name=st.integers(0, 20_000),
    value=st.integers(0, 20_000),
)
def test_head_limits_bound_names_values_and_count_apart(count: int, name: int, value: int) -> None:
    limits = HeadLimits(max_headers=100, max_field_size=16384, max_line_size=16384)
    ok = limits.field_ok(count, b"n" * name, b"v" * value)
    assert ok == (count <= 100 and name <= 16384 and value <= 16384)
    assert limits.head_budget() >= 100 * (2 * 16384 + 4)


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (b"/abcdefgh/x?y=1", b"/abcdefgh/x?y=1"),
        (b"http://proxy.example/abcdefgh?y=1", b"/abcdefgh?y=1"),
        (b"HTTPS://h:8443", b"/"),
        (b"*", None),
        (b"example.com:443", None),
        (b"http://[::1", None),
    ],
)
def test_a_target_becomes_a_path_and_query(target: bytes, path: bytes | None) -> None:
    assert origin_form(target) == path
