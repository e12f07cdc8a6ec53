"""The deliverer's HTTP/1.1 client: keep-alive connections per destination, one write and one
timer per request.

Why our own: aiohttp's client path (request and response objects, header multidicts, payload
wrappers, a timer context and a task per request) was a third of the deliverer's CPU per
delivery; a delivery needs far less — a request already built and checked (`HttpRequest`),
written at once, and a bounded piece of the answer (`deliverer.http_parse`).

What it keeps from the client it replaces:
- The SSRF guard judges every address a connection is opened to, after resolving (DNS
  included, so rebinding cannot swap in a private address): the connection goes to the very
  address that was judged. Pooled connections were judged when they were opened.
- https verifies the certificate and host name (the system's trust store).
- No redirect is followed: a 3xx is the attempt's answer.
- Idle connections are kept per (scheme, host, port) for `KEEPALIVE_S` (aiohttp's 15 s) and
  dropped as soon as the receiver closes them; the destination's concurrency limit bounds how
  many a destination has, as it bounds its requests in flight.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from yarl import URL

from deliverer.errors import BadResponse, SendFailed
from deliverer.http_parse import ResponseParser
from deliverer.ssrf import DestinationGuard

KEEPALIVE_S = 15.0
# Idle connections kept per (scheme, host, port): the most a destination's concurrency allows
# (a quarter of the deliverer's 1,000 slots).
IDLE_PER_HOST = 256
DNS_TTL_S = 60.0
URLS_KEPT = 4096
# RFC 9110 §9.2.2: these may be sent again when a kept-alive connection turns out closed.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL says about where and how to connect, read once per URL."""

    key: tuple[str, str, int]  # (scheme, host, port): the keep-alive pool
    host: str  # to resolve (brackets off an IPv6 literal)
    port: int
    tls: bool
    literal: bool  # the host is an IP address: nothing to resolve
    start: bytes  # "<path> HTTP/1.1\r\n" after the method
    host_header: bytes
    authorization: str | None  # from user:password in the URL, as aiohttp sent it


@lru_cache(maxsize=URLS_KEPT)
def target(url: str) -> Target:
    """Raises ValueError for a URL that cannot be called (checked before, by the caller)."""
    parsed = URL(url, encoded=True)
    scheme, host, port = parsed.scheme, parsed.raw_host, parsed.port
    if scheme not in ("http", "https") or not host or port is None:
        raise ValueError(f"the URL cannot be called: {url[:200]}")
    try:
        ipaddress.ip_address(host)
        literal = True
    except ValueError:
        literal = False
    authorization = None
    if parsed.raw_user is not None:
        pair = f"{parsed.user or ''}:{parsed.password or ''}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    path = parsed.raw_path_qs or "/"
    return Target(
        key=(scheme, host, port),
        host=host,
        port=port,
        tls=scheme == "https",
        literal=literal,
        start=f" {path} HTTP/1.1\r\n".encode("ascii"),
        host_header=(parsed.host_port_subcomponent or host).encode("ascii"),
        authorization=authorization,
    )


def request_bytes(
    method: str, where: Target, headers: list[tuple[str, str | bytes]], body: bytes
) -> bytes:
    """The request on the wire: Host first, the headers in their order (a bytes value as its
    own bytes, a text one as UTF-8), Accept when the request has none, the body's length."""
    lines: list[str | bytes] = []
    names = set()
    exact = False  # a value kept as bytes: the lines are joined as bytes
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-length":
            continue  # ours says the length of the body actually sent
        names.add(lowered)
        exact = exact or isinstance(value, bytes)
        lines += (name, ": ", value, "\r\n")
    if where.authorization is not None and "authorization" not in names:
        lines += ("Authorization: ", where.authorization, "\r\n")
    if "accept" not in names:
        lines.append("Accept: */*\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    if exact:
        fields = b"".join(line if isinstance(line, bytes) else line.encode() for line in lines)
    else:  # text only, encoded once
        fields = "".join(cast(list[str], lines)).encode()
    start = method.encode("ascii") + where.start
    if "host" not in names:
        start += b"Host: " + where.host_header + b"\r\n"
    return start + fields + body


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one exchange at a time."""

    def __init__(self, key: tuple[str, str, int], forget: Callable[[Connection], None]) -> None:
        self.key = key
        self._forget = forget
        self.transport: asyncio.Transport | None = None
        self.alive = True
        self.idle_since = 0.0
        self.answered = False  # a byte of a response arrived since the last request
        self._parser: ResponseParser | None = None
        self._waiter: asyncio.Future[ResponseParser] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, yet behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def exchange(
        self, data: bytes, head_request: bool, capture: int
    ) -> asyncio.Future[ResponseParser]:
        assert self.transport is not None
        self._parser = ResponseParser(head_request, capture)
        self.answered = False
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        if not self.alive or self.transport.is_closing():
            # Closed by the receiver as soon as it was opened: written, it would wait for the
            # timeout, as nothing more can arrive on it to end the exchange.
            waiter.set_exception(
                SendFailed(
                    "CONNECTION_CLOSED", "the receiver closed the connection before the request"
                )
            )
            return waiter
        self.transport.write(data)
        return waiter

    def data_received(self, data: bytes) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        self.answered = True
        try:
            done = parser.feed(data)
        except BadResponse as exc:
            self._fail(exc)
            return
        if done:
            self._finish(parser, waiter)

    def eof_received(self) -> bool:
        self._ended()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget(self)
        self._ended(exc)

    def _ended(self, exc: Exception | None = None) -> None:
        self.alive = False
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            return
        if parser.feed_eof():
            self._finish(parser, waiter)
            return
        why = f" ({exc})" if exc else ""
        self._fail(
            SendFailed(
                "CONNECTION_CLOSED",
                f"the receiver closed the connection before a complete response{why}",
            )
        )

    def _finish(self, parser: ResponseParser, waiter: asyncio.Future[ResponseParser]) -> None:
        self._parser = None
        if not parser.reusable:
            self.close()
        waiter.set_result(parser)

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        self._parser = None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def expire(self, timeout_s: float) -> None:
        """The request's time is up: fails its exchange and drops the connection."""
        self._fail(SendFailed("TIMEOUT", f"no complete response within {timeout_s:g} s"))

    def close(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.alive = False
        if self.transport is not None:
            self.transport.abort()


def _connect_error(exc: BaseException, host: str, port: int) -> SendFailed:
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLError):
        return SendFailed("TLS_ERROR", f"TLS with {where} failed: {exc}")
    if isinstance(exc, TimeoutError):
        return SendFailed("TIMEOUT", f"connecting to {where} timed out")
    if isinstance(exc, ConnectionRefusedError):
        return SendFailed("CONNECTION_REFUSED", f"{where} refused the connection: {exc}")
    return SendFailed("CONNECTION_ERROR", f"cannot connect to {where}: {exc}")


class HttpClient:
    """Sends `HttpRequest`s over kept-alive connections; `close` drops them all."""

    def __init__(self, guard: DestinationGuard, connect_timeout_s: float) -> None:
        self.guard = guard
        self.connect_timeout_s = connect_timeout_s
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._open: set[Connection] = set()
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._tls: ssl.SSLContext | None = None
        self._sweep: asyncio.TimerHandle | None = None
        self.closed = False

    async def exchange(
        self, method: str, url: str, data: bytes, timeout_s: float, capture: int
    ) -> ResponseParser:
        """The receiver's answer to `data` (a whole request) sent to `url`'s host; raises
        SendFailed (or ValueError for a URL that cannot be called)."""
        where = target(url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        head_request = method == "HEAD"
        while True:
            connection = self._pooled(where.key, loop.time())
            reused = connection is not None
            if connection is None:
                connection = await self._connect(where, deadline, timeout_s)
            waiter = connection.exchange(data, head_request, capture)
            timer = loop.call_at(deadline, connection.expire, timeout_s)
            try:
                parser = await waiter
            except SendFailed as exc:
                # A kept-alive connection the receiver closed just as it was reused: nothing
                # reached its application, so a request that may be repeated goes again.
                if (
                    reused
                    and exc.code == "CONNECTION_CLOSED"
                    and not connection.answered
                    and method in IDEMPOTENT
                    and loop.time() < deadline
                ):
                    continue
                raise
            except BaseException:
                connection.abort()  # cancelled mid-exchange: the connection is out of step
                raise
            finally:
                timer.cancel()
            if connection.alive:
                self._release(connection, loop)
            return parser

    def _pooled(self, key: tuple[str, str, int], now: float) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.alive and now - connection.idle_since < KEEPALIVE_S:
                return connection
            connection.close()
        return None

    def _release(self, connection: Connection, loop: asyncio.AbstractEventLoop) -> None:
        idle = self._idle.setdefault(connection.key, [])
        if self.closed or len(idle) >= IDLE_PER_HOST:
            connection.close()
            return
        connection.idle_since = loop.time()
        idle.append(connection)
        if self._sweep is None:
            self._sweep = loop.call_later(KEEPALIVE_S, self._expire_idle, loop)

    def _expire_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweep = None
        now = loop.time()
        for key, idle in list(self._idle.items()):
            kept = [c for c in idle if c.alive and now - c.idle_since < KEEPALIVE_S]
            for connection in idle:
                if connection not in kept:
                    connection.close()
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweep = loop.call_later(KEEPALIVE_S, self._expire_idle, loop)

    async def _addresses(self, where: Target) -> list[str]:
        if where.literal:
            addresses = [where.host]
        else:
            loop = asyncio.get_running_loop()
            cached = self._dns.get((where.host, where.port))
            if cached is not None and cached[0] > loop.time():
                addresses = cached[1]
            else:
                try:
                    infos = await loop.getaddrinfo(where.host, where.port, type=socket.SOCK_STREAM)
                except socket.gaierror as exc:
                    raise SendFailed("DNS_FAILURE", f"cannot resolve {where.host}: {exc}") from exc
                addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
                if len(self._dns) >= URLS_KEPT:
                    self._dns.clear()  # names of destinations long gone: start again
                self._dns[(where.host, where.port)] = (loop.time() + DNS_TTL_S, addresses)
        for address in addresses:
            if self.guard.blocks(address, where.port):
                raise SendFailed(
                    "BLOCKED_DESTINATION",
                    f"{where.host} resolves to a blocked address {address}",
                )
        return addresses

    async def _connect(self, where: Target, deadline: float, timeout_s: float) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await self._addresses(where)
                failure: BaseException | None = None
                for address in addresses:  # in the resolver's order, as aiohttp tries them
                    try:
                        return await asyncio.wait_for(
                            self._open_one(loop, where, address), self.connect_timeout_s
                        )
                    except (OSError, TimeoutError) as exc:
                        failure = exc
                assert failure is not None
                raise _connect_error(failure, where.host, where.port)
        except TimeoutError:
            raise SendFailed(
                "TIMEOUT", f"no connection to {where.host} within {timeout_s:g} s"
            ) from None

    async def _open_one(
        self, loop: asyncio.AbstractEventLoop, where: Target, address: str
    ) -> Connection:
        if self.closed:
            raise SendFailed("CONNECTION_ERROR", "the HTTP client is closed")
        if where.tls and self._tls is None:
            self._tls = ssl.create_default_context()
        _, connection = await loop.create_connection(
            lambda: Connection(where.key, self._open.discard),
            address,
            where.port,
            ssl=self._tls if where.tls else None,
            server_hostname=where.host if where.tls else None,
        )
        self._open.add(connection)  # so that `close` reaches it; it leaves the set when lost
        return connection

    async def close(self) -> None:
        self.closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
        await asyncio.sleep(0)  # the transports' close callbacks run
