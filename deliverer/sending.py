"""One HTTP attempt: send, time it, keep a bounded piece of the answer, name what went wrong.

Whatever goes wrong ends as an Outcome with an error code, never as an exception: a request
that cannot be sent as built (a header that would inject another, a method that is no token,
a URL we cannot call) is INVALID_REQUEST, found before anything is sent.

Exact header bytes: aiohttp writes every header value as UTF-8, so a provider's value that is
not UTF-8 (kept as its raw bytes) would reach the receiver re-encoded. Such a value is handed
to aiohttp as an `ExactHeaderValue`, and the header serializer below writes its raw bytes; for
every other request (and response) the serializer is aiohttp's own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import time
from functools import lru_cache
from typing import Any

import aiohttp
from aiohttp import http_writer
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import CIMultiDict
from yarl import URL

from deliverer.outgoing import HttpRequest, Outcome
from deliverer.ssrf import DestinationGuard

MAX_RESPONSE_BODY = 64 * 1024
# RFC 9110 §5.6.2: a method and a header name are tokens.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
# RFC 9110 §5.5: no control character in a field value but HTAB (aiohttp's rule too).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class BlockedDestination(OSError):
    """The destination resolves to an address FastHook refuses to call (SSRF guard)."""


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses blocked addresses — checked on the very
    addresses the connection will use, so DNS rebinding cannot slip past."""

    def __init__(self, guard: DestinationGuard) -> None:
        self._guard = guard
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if self._guard.blocks(result["host"], result["port"] or port):
                raise BlockedDestination(f"{host} resolves to a blocked address {result['host']}")
        return results

    async def close(self) -> None:
        await self._inner.close()


class ExactHeaderValue(str):
    """A header value sent as its `raw` bytes (its text is their latin-1 reading)."""

    raw: bytes

    def __new__(cls, raw: bytes) -> ExactHeaderValue:
        value = super().__new__(cls, raw.decode("latin-1"))
        value.raw = raw
        return value


_aiohttp_serialize_headers = http_writer._serialize_headers


def _serialize_headers(status_line: str, headers: CIMultiDict[str]) -> bytes:
    if not any(isinstance(v, ExactHeaderValue) for v in headers.values()):
        return _aiohttp_serialize_headers(status_line, headers)
    lines = [status_line.encode()]
    for name, value in headers.items():
        line = (
            name.encode()
            + b": "
            + (value.raw if isinstance(value, ExactHeaderValue) else str(value).encode())
        )
        if _FORBIDDEN_IN_VALUE.search(line):
            raise ValueError("a control character in a header")
        lines.append(line)
    return b"\r\n".join(lines) + b"\r\n\r\n"


http_writer._serialize_headers = _serialize_headers


# A destination's URL is the same for each of its deliveries (but with path forwarding): what
# is read from it is kept, not parsed again per delivery.
URLS_KEPT = 4096


@lru_cache(maxsize=URLS_KEPT)
def _called_url(url: str) -> URL:
    return URL(url, encoded=True)


@lru_cache(maxsize=URLS_KEPT)
def _url_problem(url: str) -> str | None:
    try:
        parsed = _called_url(url)
        host = parsed.host
    except (ValueError, TypeError) as exc:
        return f"the URL cannot be called: {exc}"
    if parsed.scheme not in ("http", "https") or not host:
        return "the URL cannot be called: an http(s) URL with a host is needed"
    return None


@lru_cache(maxsize=64)
def _total_timeout(timeout_s: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=timeout_s)


def request_problem(request: HttpRequest) -> str | None:
    """Why `request` cannot be sent as built, or None when it can."""
    if not _TOKEN.fullmatch(request.method):
        return f"the method {request.method!r} is not an HTTP method token"
    problem = _url_problem(request.url)
    if problem is not None:
        return problem
    for name, value in request.headers:
        if not _TOKEN.fullmatch(name):
            return f"the header name {name!r} is not an HTTP token"
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
        if _FORBIDDEN_IN_VALUE.search(raw):
            return f"the header {name!r} holds a control character (CR, LF, NUL, …)"
    return None


@lru_cache(maxsize=URLS_KEPT)
def _literal_address(url: str) -> tuple[str, int | None] | None:
    """The URL's host and port when the host is an IP address, else None."""
    parsed = URL(url)
    host = (parsed.host or "").strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, parsed.port


def literal_address_blocked(url: str, guard: DestinationGuard) -> bool:
    """aiohttp skips the resolver for IP literals, so those are checked here."""
    literal = _literal_address(url)
    return literal is not None and guard.blocks(*literal)


def make_session(guard: DestinationGuard, connect_timeout_s: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=0, resolver=GuardedResolver(guard), ttl_dns_cache=60, enable_cleanup_closed=True
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent",),
        timeout=aiohttp.ClientTimeout(sock_connect=connect_timeout_s),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def error_code_of(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "TIMEOUT"
    if isinstance(exc, aiohttp.ClientConnectorError):
        cause: Any = exc.os_error
        if isinstance(cause, BlockedDestination):
            return "BLOCKED_DESTINATION"
        if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(cause, socket.gaierror):
            return "DNS_FAILURE"
        if isinstance(exc, aiohttp.ClientSSLError) or isinstance(cause, ssl.SSLError):
            return "TLS_ERROR"
        if isinstance(cause, ConnectionRefusedError):
            return "CONNECTION_REFUSED"
        return "CONNECTION_ERROR"
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return "CONNECTION_CLOSED"
    if isinstance(exc, BlockedDestination):
        return "BLOCKED_DESTINATION"
    # aiohttp refusing to build the request (a URL, a header): sending it again cannot help.
    if isinstance(exc, aiohttp.InvalidURL) or (
        isinstance(exc, ValueError | TypeError) and not isinstance(exc, aiohttp.ClientError)
    ):
        return "INVALID_REQUEST"
    return "NETWORK_ERROR"


async def send(
    session: aiohttp.ClientSession, request: HttpRequest, timeout_s: float, guard: DestinationGuard
) -> Outcome:
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    problem = request_problem(request)
    if problem is not None:
        return Outcome(None, error_code="INVALID_REQUEST", error=problem)
    if literal_address_blocked(request.url, guard):
        return Outcome(
            None, error_code="BLOCKED_DESTINATION", error="the destination is a blocked address"
        )
    headers = [(k, ExactHeaderValue(v) if isinstance(v, bytes) else v) for k, v in request.headers]
    try:
        async with session.request(
            request.method,
            _called_url(request.url),
            headers=headers,
            data=request.body,
            allow_redirects=False,
            timeout=_total_timeout(timeout_s),
        ) as response:
            body = b""
            while len(body) < MAX_RESPONSE_BODY and (
                chunk := await response.content.read(MAX_RESPONSE_BODY - len(body))
            ):
                body += chunk
            return Outcome(response.status, list(response.headers.items()), body, elapsed())
    except Exception as exc:  # every failure of one attempt is its outcome, never the caller's
        return Outcome(
            None,
            latency_ms=elapsed(),
            error_code=error_code_of(exc),
            error=str(exc)[:500] or type(exc).__name__,
        )
