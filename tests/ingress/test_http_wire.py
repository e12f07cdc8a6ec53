"""HTTP/1.1 on the public port, over raw sockets, whichever server serves it
(FASTHOOK_INGRESS_SERVER): pipelined requests answered in order, HTTP/1.0, `Expect:
100-continue`, chunked bodies stored exactly, malformed input refused, idle connections
closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from runtime.settings import Settings
from tests.support.ingress import RunningIngress, declare_source, start_ingress
from tests.support.kafka import read_topic

IDLE_S = 1.0
# How long an idle connection may stay open: the timeout plus scheduling slack.
CLOSED_WITHIN_S = IDLE_S + 5.0


async def read_answer(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One answer (status line, headers by lower-case name, body) off a connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    status, *lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    return reader, writer, parts.path


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), CLOSED_WITHIN_S) == b""
    except ConnectionError:
        return True


@pytest.fixture
async def quick_idle(settings: Settings) -> AsyncIterator[RunningIngress]:
    running = await start_ingress(settings.with_(ingress_header_timeout_s=IDLE_S))
    yield running
    await running.close()


async def test_pipelined_requests_are_answered_in_order(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    reader, writer, path = await connect(ingress.source_url(source))
    try:
        writer.write(
            f"POST {path}/one HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none".encode()
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            + f"POST {path}/two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo".encode()
            + b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answers = [await read_answer(reader) for _ in range(4)]
        assert await closed_by_server(reader)
    finally:
        writer.close()
    assert [status.split()[1] for status, _, _ in answers] == ["200", "200", "200", "404"]
    assert answers[1][2] == b'{"status": "ok"}'
    assert answers[3][1].get("connection", "").lower() == "close"
    records = await read_topic(bootstrap, settings.topics.requests, expect=2)
    by_id = {r["request_id"]: r for r in records}
    first, second = (by_id[answers[i][1]["x-fasthook-request-id"]] for i in (0, 2))
    assert (first["path"], first["body"]) == ("/one", b"one")
    assert (second["path"], second["body"]) == ("/two", b"two")


async def test_http_1_0_is_answered_in_kind_and_closed(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    reader, writer, path = await connect(ingress.source_url(source))
    try:
        writer.write(f"POST {path} HTTP/1.0\r\nContent-Length: 4\r\n\r\nold!".encode())
        status, _, _ = await read_answer(reader)
        assert await closed_by_server(reader)
    finally:
        writer.close()
    assert status.startswith("HTTP/1.0 200"), status
    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    assert record["body"] == b"old!"


async def test_expect_100_continue_is_answered_before_the_body(
    ingress, producer, settings, bootstrap
):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    reader, writer, path = await connect(ingress.source_url(source))
    body = b'{"after": "continue"}'
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        writer.write(body)
        status, _, _ = await read_answer(reader)
    finally:
        writer.close()
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert status.startswith("HTTP/1.1 200"), status
    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    assert record["body"] == body


async def test_chunked_body_is_stored_exactly(ingress, producer, settings, bootstrap):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    reader, writer, path = await connect(ingress.source_url(source))
    pieces = [b"\x00\xff", b"chunk\r\n", bytes(range(256)) * 40]
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for piece in pieces:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        status, _, _ = await read_answer(reader)
    finally:
        writer.close()
    assert status.startswith("HTTP/1.1 200"), status
    [record] = await read_topic(bootstrap, settings.topics.requests, expect=1)
    assert record["body"] == b"".join(pieces) and record["body_size"] == len(b"".join(pieces))


@pytest.mark.parametrize(
    "garbage",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /abcdefgh HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"POST /abcdefgh HTTP/1.1\r\nBad Header Name: v\r\n\r\n",
    ],
)
async def test_malformed_requests_are_400_and_closed(ingress, settings, bootstrap, garbage):
    reader, writer, _ = await connect(ingress.base_url)
    try:
        writer.write(garbage)
        status, _, _ = await read_answer(reader)
        assert await closed_by_server(reader)
    finally:
        writer.close()
    assert status.split()[1] == "400", status
    assert await read_topic(bootstrap, settings.topics.requests) == []


async def test_an_idle_keep_alive_connection_is_closed(quick_idle, producer, settings):
    source = await declare_source(producer, settings)
    await quick_idle.wait_for_source(source)
    reader, writer, path = await connect(quick_idle.source_url(source))
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode())
        status, headers, _ = await read_answer(reader)
        assert status.startswith("HTTP/1.1 200") and "connection" not in headers
        assert await closed_by_server(reader)
    finally:
        writer.close()


async def test_a_long_pipeline_is_answered_whole_and_in_order(
    ingress, producer, settings, bootstrap
):
    source = await declare_source(producer, settings)
    await ingress.wait_for_source(source)
    reader, writer, path = await connect(ingress.source_url(source))
    count = 100  # more than the lean server parses ahead of its answers
    try:
        writer.write(
            b"".join(
                f"POST {path}/{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode()
                for i in range(count)
            )
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answers = [await read_answer(reader) for _ in range(count + 1)]
        assert await closed_by_server(reader)
    finally:
        writer.close()
    assert [status.split()[1] for status, _, _ in answers] == ["200"] * (count + 1)
    records = await read_topic(bootstrap, settings.topics.requests, expect=count)
    path_of = {r["request_id"]: r["path"] for r in records}
    answered = [path_of[headers["x-fasthook-request-id"]] for _, headers, _ in answers[:count]]
    assert answered == [f"/{i}" for i in range(count)]
