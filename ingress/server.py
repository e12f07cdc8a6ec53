"""The lean HTTP/1.1 server for the ingress's public port (FASTHOOK_INGRESS_SERVER=lean).

An asyncio Protocol around httptools' parser, serving the ingress app's source handler and
probes: against aiohttp's server it takes a fifth to a third less of the ingress's CPU per
keep-alive request and about a third less per new connection (docs/benchmarks.md, ## ingest),
and the public port needs little of what aiohttp's server does. What it did there, this does
too: bodies streamed to the handler (which keeps its own 408 deadline and 413 limit),
aiohttp's head limits (400), the headers deadline and idle keep-alive timeout, pipelined
requests answered in order, HTTP/1.0, chunked bodies, `Expect: 100-continue`, lingering over
an unread body, and the graceful stop (runtime.serve): stop listening, answer what is in
flight, close the rest. The app's startup and cleanup stay aiohttp's (its AppRunner).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import httptools
from aiohttp import web

from ingress.deadlines import Deadline
from ingress.handlers import handle_source_request
from ingress.keys import PROBES, SETTINGS
from ingress.wire import (
    NOT_FOUND,
    PROBE,
    SOURCE,
    HeadLimits,
    Route,
    answer_head,
    origin_form,
    plain_answer,
    route,
)
from runtime.settings import Settings

log = logging.getLogger(__name__)

# A body the handler has not read yet is held up to this, then the socket is left unread
# (TCP pushes back on the client) until the handler reads.
PAUSE_ABOVE_BYTES = 256 * 1024
# Pipelined requests parsed ahead of their answers, at most; past it the socket is left
# unread until the answers catch up (a client cannot queue requests without bound).
MAX_PIPELINED = 32
# An idle timer may fire this early (the loop's clock resolution): close then, not re-arm.
IDLE_SLACK_S = 0.002

Probe = Callable[[Any], Awaitable[web.StreamResponse]]


class BadHead(Exception):
    """Over a head limit, or a target that is no path: 400."""


class Body:
    """A request's body as the handler reads it (aiohttp's `request.content` as far as the
    handler uses it): what arrived so far, whether all of it did, and a wait for more."""

    __slots__ = ("_chunks", "_connection", "_discarding", "_eof", "_error", "_size", "_waiter")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._chunks: list[bytes] = []
        self._size = 0
        self._eof = False
        self._discarding = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def feed(self, data: bytes) -> None:
        if self._discarding:
            return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > PAUSE_ABOVE_BYTES:
            self._connection.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def is_eof(self) -> bool:
        return self._eof

    def read_nowait(self) -> bytes:
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._connection.resume_reading()
        return data

    async def _wait(self) -> None:
        while not self._chunks and not self._eof:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def readany(self) -> bytes:
        await self._wait()
        return self.read_nowait()

    async def discard(self) -> None:
        """Read the rest of the body into nothing: an answer went out before the handler read
        it all, and the connection's next request starts after it."""
        self._discarding = True
        self.read_nowait()
        await self._wait()


class LeanRequest:
    """What the source handler and the probes read of a request."""

    __slots__ = (
        "app",
        "content",
        "content_length",
        "expect",
        "keep_alive",
        "match_info",
        "method",
        "raw_headers",
        "raw_path",
        "remote",
        "route",
        "version",
    )

    def __init__(
        self,
        app: web.Application,
        method: str,
        raw_path: str,
        raw_headers: tuple[tuple[bytes, bytes], ...],
        version: str,
        keep_alive: bool,
        content: Body,
        remote: str | None,
    ) -> None:
        self.app = app
        self.method = method
        self.raw_path = raw_path
        self.raw_headers = raw_headers
        self.version = version
        self.keep_alive = keep_alive
        self.content = content
        self.remote = remote
        self.route: Route = route(raw_path)
        self.match_info: Mapping[str, str] = {"token": self.route.name}
        self.content_length: int | None = None
        self.expect: bytes | None = None
        for name, value in raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                self.content_length = int(value)  # the parser checked it is a number
            elif lowered == b"expect":
                self.expect = value.lower()


class _Date:
    """The Date header's value, made once a second."""

    def __init__(self) -> None:
        self._second = 0
        self._value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = email.utils.formatdate(now, usegmt=True).encode("ascii")
        return self._value


class LeanServer:
    """The ingress app's public port, served by `Connection`s."""

    def __init__(self, app: web.Application) -> None:
        settings: Settings = app[SETTINGS]
        self.app = app
        self.probes: dict[str, Probe] = {r.path: r.handler for r in app[PROBES]}
        self.limits = HeadLimits(
            settings.max_headers, settings.max_header_bytes, settings.max_header_bytes
        )
        self.head_budget = self.limits.head_budget()
        self.header_timeout_s = settings.ingress_header_timeout_s
        self.body_timeout_s = settings.ingress_body_timeout_s
        self.date = _Date()
        self.connections: set[Connection] = set()
        self.closing = False
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, reuse_port: bool, backlog: int) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Connection(self), host, port, reuse_port=reuse_port or None, backlog=backlog
        )

    async def stop(self) -> None:
        """Stop listening and close the idle connections; the busy ones close after their
        answers (runtime.serve waits for those)."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close_if_idle()

    async def close(self) -> None:
        await self.stop()
        for connection in list(self.connections):
            connection.close()


class Connection(asyncio.Protocol):
    """One client connection: parses its requests and answers them in order, one at a time."""

    def __init__(self, server: LeanServer) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        # Parsed requests (and a parse error's status, which ends the connection) to answer.
        self.queue: deque[LeanRequest | int] = deque()
        self.current: LeanRequest | None = None  # the request whose body is being parsed
        self.task: asyncio.Task[None] | None = None
        self.idle: asyncio.TimerHandle | None = None
        self.idle_until: float | None = None  # loop time at which an idle connection closes
        self.paused = False
        self.broken = False  # a parse error: nothing more is read
        self.in_head = False
        self.head_bytes = 0
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.remote: str | None = None

    # The transport's side.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A TCP transport (uvloop's is no subclass of asyncio's, but has its methods).
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if isinstance(peer, tuple) else None
        self.server.connections.add(self)
        self.arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self.stop_idle()
        if self.current is not None and not self.current.content.is_eof():
            self.current.content.fail(ConnectionResetError("the client closed the connection"))
        self.queue.clear()

    def data_received(self, data: bytes) -> None:
        if self.broken:
            return
        if not self.in_head and self.current is None:
            self.in_head = True
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.stop_reading()  # what follows is not HTTP/1.1: answer what came, then close
        except httptools.HttpParserError:  # BadHead from a callback too
            self.refuse(400)
            return
        if self.in_head and self.head_bytes > self.server.head_budget:
            self.refuse(400)

    def pause_reading(self) -> None:
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.paused and not self.broken:
            self.paused = False
            self.transport.resume_reading()

    def stop_reading(self) -> None:
        self.broken = True
        if not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def refuse(self, status: int) -> None:
        """The request cannot be parsed (or is over the limits): answer `status` after the
        requests before it, then close."""
        self.stop_reading()
        if self.current is not None:
            self.current.content.fail(ConnectionResetError("malformed request"))
        self.queue.append(status)
        self.serve()

    def arm_idle(self) -> None:
        """Close the connection unless a request's head arrives in time. Per request this
        only moves a deadline: the one timer, when it fires early, waits on to it (a timer
        armed and cancelled per keep-alive request was a visible share of the server)."""
        self.idle_until = self.loop.time() + self.server.header_timeout_s
        if self.idle is None:
            self.idle = self.loop.call_at(self.idle_until, self.idle_check)

    def disarm_idle(self) -> None:
        self.idle_until = None  # the pending timer, if any, finds nothing to do

    def idle_check(self) -> None:
        self.idle = None
        until = self.idle_until
        if until is None:
            return
        if self.loop.time() >= until - IDLE_SLACK_S:
            self.close()
        else:
            self.idle = self.loop.call_at(until, self.idle_check)

    def stop_idle(self) -> None:
        """No timer left behind: a closed connection is not kept until its timer fires."""
        self.idle_until = None
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None

    def close_if_idle(self) -> None:
        if self.task is None and not self.queue and self.current is None:
            self.close()

    def close(self) -> None:
        self.stop_idle()
        self.transport.close()

    # The parser's callbacks.

    def on_message_begin(self) -> None:
        self.in_head = True
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.server.limits.max_line_size:
            raise BadHead

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if not self.server.limits.field_ok(len(self.headers), name, value):
            raise BadHead

    def on_headers_complete(self) -> None:
        self.disarm_idle()
        self.in_head = False
        self.head_bytes = 0
        parser = self.parser
        target = origin_form(self.url)
        if target is None:
            raise BadHead
        request = LeanRequest(
            self.server.app,
            parser.get_method().decode("ascii"),
            target.decode("utf-8", "surrogateescape"),
            tuple(self.headers),
            parser.get_http_version(),
            parser.should_keep_alive(),
            Body(self),
            self.remote,
        )
        self.current = request
        self.queue.append(request)
        if len(self.queue) > MAX_PIPELINED:
            self.pause_reading()
        self.serve()

    def on_body(self, body: bytes) -> None:
        if self.current is not None:
            self.current.content.feed(body)

    def on_message_complete(self) -> None:
        if self.current is not None:
            self.current.content.feed_eof()
            self.current = None

    # Answering.

    def serve(self) -> None:
        if self.task is None:
            self.task = self.loop.create_task(self.answer_queue())

    async def answer_queue(self) -> None:
        keep = True
        try:
            while keep and self.queue and not self.transport.is_closing():
                entry = self.queue.popleft()
                if len(self.queue) == MAX_PIPELINED:
                    self.resume_reading()  # a body over its own bound pauses it again
                if isinstance(entry, int):
                    self.transport.write(plain_answer(entry, date=self.server.date()))
                    keep = False
                    continue
                try:
                    keep = await self.answer(entry)
                except ConnectionError:
                    # Its body broke off: the client left (the loop ends), or the rest did
                    # not parse (the 400 queued after it is written next).
                    keep = True
        except Exception:
            log.exception("error answering a request")
            if not self.transport.is_closing():
                self.transport.write(plain_answer(500, date=self.server.date()))
            keep = False
        finally:
            self.task = None
        if self.transport.is_closing():
            return
        if not keep or self.server.closing:
            self.close()
        elif self.queue:
            self.serve()
        elif self.broken:
            self.close()  # nothing more is read from it (an upgrade): done
        elif self.current is None:
            self.arm_idle()

    async def answer(self, request: LeanRequest) -> bool:
        """Answer one request; whether the connection stays open after it."""
        kind = request.route.kind
        if request.expect is not None and request.version == "1.1" and kind != NOT_FOUND:
            if request.expect != b"100-continue":
                self.write(request, web.Response(status=417, text="Unknown Expect"), False)
                return False
            if not request.content.is_eof():
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if kind == SOURCE:
            response = await handle_source_request(request)
        elif kind == PROBE and request.method in ("GET", "HEAD"):
            response = await self.server.probes[request.route.name](request)
        elif kind == PROBE:
            response = web.Response(
                status=405, text="405: Method Not Allowed", headers={"Allow": "GET,HEAD"}
            )
        else:
            response = web.Response(status=404, text="404: Not Found")
        forced_close = response.keep_alive is False  # the handler's 408
        keep = request.keep_alive and not forced_close and not self.server.closing
        self.write(request, response, keep)
        if not forced_close and not request.content.is_eof():
            # Answered before the body was all read (413, 405, ...): the client may still be
            # sending it, and closing now would reset the connection under the answer; read
            # the rest into nothing first, as aiohttp's lingering does.
            try:
                with Deadline(self.loop, self.server.body_timeout_s):
                    await request.content.discard()
            except (TimeoutError, ConnectionError):
                return False
        return keep

    def write(self, request: LeanRequest, response: web.StreamResponse, keep: bool) -> None:
        body = response.body if isinstance(response, web.Response) else None
        payload = body if isinstance(body, bytes) else b""
        head = answer_head(
            request.version,
            response.status,
            response.headers.items(),
            len(payload),
            keep,
            self.server.date(),
        )
        if request.method == "HEAD":
            payload = b""
        if not self.transport.is_closing():
            self.transport.write(head + payload)


async def listen_lean(
    app: web.Application, host: str, port: int, reuse_port: bool, backlog: int
) -> LeanServer:
    """runtime.serve's `listen` for the lean server: the app already started."""
    server = LeanServer(app)
    await server.start(host, port, reuse_port, backlog)
    return server
