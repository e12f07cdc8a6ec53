"""The deliverer's HTTP client against real sockets: keep-alive reuse, framing, the capture,
a receiver that closes or hangs, what goes on the wire, and the guard on resolved addresses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from deliverer.outgoing import HttpRequest
from deliverer.sending import MAX_RESPONSE_BODY, make_session, send
from deliverer.ssrf import DestinationGuard
from tests.support.http import read_request
from tests.support.poll import eventually
from tests.support.receiver import Receiver

GUARD = DestinationGuard(["127.0.0.1/32"])
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """A TCP server on loopback that answers each request with `answer`'s bytes (closing the
    socket after an answer that ends in CLOSE or says close), and counts the connections and
    requests it gets (each request's head and body, as bytes)."""

    def __init__(self, answer: Callable[[int], bytes | None]) -> None:
        self.answer = answer  # given the request's 1-based number: the bytes, None to hang
        self.connections = 0
        self.closed = 0  # connections this side closed, and saw closed
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                self.requests.append(await read_request(reader))
                answer = self.answer(len(self.requests))
                if answer is None:
                    await asyncio.sleep(3600)
                writer.write(answer or b"")
                await writer.drain()
                if answer is not None and (answer.endswith(b"CLOSE") or b"close" in answer):
                    writer.close()
                    await writer.wait_closed()
                    self.closed += 1
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RawServer]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def post_all(url: str, count: int, guard: DestinationGuard = GUARD, timeout_s: float = 5):
    client = make_session(guard, 5)
    try:
        return [
            await send(client, HttpRequest("POST", url, [], b"body"), timeout_s, guard)
            for _ in range(count)
        ]
    finally:
        await client.close()


async def test_one_connection_carries_every_request_in_turn():
    async with RawServer(lambda n: OK).running() as server:
        outcomes = await post_all(server.url + "/hook", 20)
    assert [(o.status, o.body, o.error_code) for o in outcomes] == [(200, b"ok", None)] * 20
    assert server.connections == 1


async def test_a_real_receiver_gets_every_request_over_kept_alive_connections():
    receiver = await Receiver().start()
    try:
        client = make_session(GUARD, 5)
        try:
            outcomes = await asyncio.gather(
                *(
                    send(client, HttpRequest("POST", receiver.url + f"/h/{i}", [], b"x"), 5, GUARD)
                    for i in range(50)
                )
            )
            again = await send(client, HttpRequest("GET", receiver.url + "/h", [], b""), 5, GUARD)
        finally:
            await client.close()
    finally:
        await receiver.stop()
    assert {o.status for o in outcomes} == {204} and again.status == 204
    assert sorted(r.path_qs for r in receiver.received[:50]) == sorted(f"/h/{i}" for i in range(50))


async def test_chunked_and_close_delimited_answers_are_read():
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    until_close = b"HTTP/1.1 202 Accepted\r\n\r\nall of it CLOSE"
    async with RawServer(lambda n: until_close if n == 2 else chunked).running() as server:
        first, second, third = await post_all(server.url, 3)
    assert (first.status, first.body) == (200, b"abcde")
    assert (second.status, second.body) == (202, b"all of it CLOSE")
    assert (third.status, third.body) == (200, b"abcde")  # on a new connection
    assert server.connections == 2


async def test_a_long_answer_is_kept_to_the_capture_and_its_connection_dropped():
    long = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_RESPONSE_BODY * 3)
    long += b"y" * (MAX_RESPONSE_BODY * 3)
    async with RawServer(lambda n: long if n == 1 else OK).running() as server:
        first, second = await post_all(server.url, 2)
    assert (first.status, len(first.body)) == (200, MAX_RESPONSE_BODY)
    assert (second.status, second.body) == (200, b"ok")
    assert server.connections == 2


async def test_a_connection_the_receiver_closed_after_answering_is_not_reused():
    # No `Connection: close` said, the socket closed all the same (as some servers do when
    # their keep-alive time runs out): the next POST must not go into the closed connection.
    # (RawServer closes the socket after an answer ending in CLOSE.)
    async with RawServer(
        lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nCLOSE"
    ).running() as server:
        client = make_session(GUARD, 5)
        try:
            outcomes = []
            for n in range(1, 4):
                outcomes.append(
                    await send(client, HttpRequest("POST", server.url, [], b"b"), 5, GUARD)
                )

                async def server_closed(n: int = n) -> bool:
                    return server.closed == n

                await eventually(server_closed, what="the server's close")
                # Client and server share this loop: its next turn hands the client the FIN.
                await asyncio.sleep(0)
        finally:
            await client.close()
    assert [(o.status, o.error_code) for o in outcomes] == [(200, None)] * 3
    assert server.connections == 3


async def test_a_receiver_that_closes_mid_answer_is_connection_closed():
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly part"
    async with RawServer(lambda n: cut).running() as server:
        [outcome] = await post_all(server.url, 1)
    assert (outcome.status, outcome.error_code) == (None, "CONNECTION_CLOSED")
    assert outcome.error


async def test_a_receiver_that_never_answers_times_out_and_its_connection_is_dropped():
    async with RawServer(lambda n: None if n == 1 else OK).running() as server:
        first, second = await post_all(server.url, 2, timeout_s=0.3)
    assert (first.status, first.error_code) == (None, "TIMEOUT")
    assert (second.status, second.body) == (200, b"ok")
    assert server.connections == 2


async def test_nothing_listening_is_connection_refused():
    async with RawServer(lambda n: OK).running() as server:
        url = server.url
    [outcome] = await post_all(url, 1)
    assert (outcome.status, outcome.error_code) == (None, "CONNECTION_REFUSED")


async def test_a_redirect_is_the_answer_and_is_not_followed():
    moved = (
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n"
    )
    async with RawServer(lambda n: moved).running() as server:
        [outcome] = await post_all(server.url, 1)
    assert outcome.status == 302 and outcome.header("location") == "http://127.0.0.1:1/elsewhere"
    assert len(server.requests) == 1


async def test_the_request_goes_out_as_built_host_first():
    async with RawServer(lambda n: OK).running() as server:
        client = make_session(GUARD, 5)
        try:
            request = HttpRequest(
                "PUT",
                server.url + "/a/b%20c?x=1&y=%2F#fragment",
                [
                    ("Content-Type", "text/plain"),
                    ("X-Dup", "1"),
                    ("X-Dup", "2"),
                    ("X-Raw", b"\xe9"),
                ],
                b"hello",
            )
            outcome = await send(client, request, 5, GUARD)
        finally:
            await client.close()
    assert outcome.status == 200
    assert server.requests == [
        b"PUT /a/b%20c?x=1&y=%2F HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"Content-Type: text/plain\r\nX-Dup: 1\r\nX-Dup: 2\r\nX-Raw: \xe9\r\n"
        + b"Accept: */*\r\nContent-Length: 5\r\n\r\nhello"
    ]


async def test_a_name_that_resolves_to_a_blocked_address_is_never_connected_to():
    async with RawServer(lambda n: OK).running() as server:
        nothing_allowed = DestinationGuard([])
        [outcome] = await post_all(f"http://localhost:{server.port}/hook", 1, guard=nothing_allowed)
    assert (outcome.status, outcome.error_code) == (None, "BLOCKED_DESTINATION")
    assert server.connections == 0


async def test_a_name_that_does_not_resolve_is_a_dns_failure():
    [outcome] = await post_all("http://no-such-host.invalid/hook", 1)
    assert (outcome.status, outcome.error_code) == (None, "DNS_FAILURE")


async def test_a_receiver_that_closes_every_connection_at_once_is_connection_closed():
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        [outcome] = await post_all(f"http://127.0.0.1:{port}/", 1, timeout_s=30)
    finally:
        server.close()
    assert (outcome.status, outcome.error_code) == (None, "CONNECTION_CLOSED")
    assert outcome.latency_ms < 30_000  # ended by the close, not by the timeout
