"""One HTTP attempt: send, time it, keep a bounded piece of the answer, name what went wrong."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from deliverer.outgoing import HttpRequest
from deliverer.ssrf import is_blocked

MAX_RESPONSE_BODY = 64 * 1024


class BlockedDestination(OSError):
    """The destination resolves to an address FastHook refuses to call (SSRF guard)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    latency_ms: int = 0
    error_code: str | None = None
    error: str | None = None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does, then refuses blocked addresses — checked on the very
    addresses the connection will use, so DNS rebinding cannot slip past."""

    def __init__(self, allow: list[str]) -> None:
        self._allow = allow
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if is_blocked(result["host"], self._allow):
                raise BlockedDestination(f"{host} resolves to a blocked address {result['host']}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def literal_address_blocked(url: str, allow: list[str]) -> bool:
    """aiohttp skips the resolver for IP literals, so those are checked here."""
    host = aiohttp.client.URL(url).host or ""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return is_blocked(host.strip("[]"), allow)


def make_session(allow: list[str], connect_timeout_s: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, resolver=GuardedResolver(allow),
                                     ttl_dns_cache=60, enable_cleanup_closed=True)
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",),
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
    return "NETWORK_ERROR"


async def send(session: aiohttp.ClientSession, request: HttpRequest, timeout_s: float,
               allow: list[str]) -> Outcome:
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    if literal_address_blocked(request.url, allow):
        return Outcome(None, error_code="BLOCKED_DESTINATION",
                       error="the destination is a blocked address")
    headers = [(k, v.decode("latin-1") if isinstance(v, bytes) else v)
               for k, v in request.headers]
    try:
        async with session.request(
            request.method, aiohttp.client.URL(request.url, encoded=True),
            headers=headers, data=request.body, allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            body = b""
            while len(body) < MAX_RESPONSE_BODY and (
                chunk := await response.content.read(MAX_RESPONSE_BODY - len(body))
            ):
                body += chunk
            return Outcome(response.status, list(response.headers.items()), body, elapsed())
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return Outcome(None, latency_ms=elapsed(), error_code=error_code_of(exc),
                       error=str(exc)[:500] or type(exc).__name__)
