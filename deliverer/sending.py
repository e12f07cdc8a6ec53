"""One HTTP attempt: send, time it, keep a bounded piece of the answer, name what went wrong.

Whatever goes wrong ends as an Outcome with an error code, never as an exception: a request
that cannot be sent as built (a header that would inject another, a method that is no token,
a URL we cannot call) is INVALID_REQUEST, found before anything is sent.

Exact header bytes: a provider's header value that is not UTF-8 is kept as its raw bytes and
written as those bytes (`deliverer.http_client.request_bytes`); text values go out as UTF-8.
The transport is `deliverer.http_client` (keep-alive pools, the SSRF guard on every address
connected to, TLS verification).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from functools import lru_cache

from yarl import URL

from deliverer.errors import SendFailed
from deliverer.http_client import HttpClient, request_bytes, target
from deliverer.outgoing import HttpRequest, Outcome
from deliverer.ssrf import DestinationGuard

MAX_RESPONSE_BODY = 64 * 1024
# RFC 9110 §5.6.2: a method and a header name are tokens.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
# RFC 9110 §5.5: no control character in a field value but HTAB (aiohttp's rule too).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FORBIDDEN_IN_TEXT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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


def request_problem(request: HttpRequest) -> str | None:
    """Why `request` cannot be sent as built, or None when it can."""
    if not _TOKEN.fullmatch(request.method):
        return f"the method {request.method!r} is not an HTTP method token"
    problem = _url_problem(request.url)
    if problem is not None:
        return problem
    for name, value in request.headers:
        if not _is_token(name):
            return f"the header name {name!r} is not an HTTP token"
        # UTF-8 writes a control character as its own byte, nothing else below 0x80: the
        # text is searched as it is, without encoding it.
        if (
            _FORBIDDEN_IN_VALUE.search(value)
            if isinstance(value, bytes)
            else _FORBIDDEN_IN_TEXT.search(value)
        ):
            return f"the header {name!r} holds a control character (CR, LF, NUL, …)"
    return None


@lru_cache(maxsize=URLS_KEPT)
def _is_token(name: str) -> bool:
    # The same few header names come with every delivery.
    return _TOKEN.fullmatch(name) is not None


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
    """An IP literal judged under the caller's guard before any connection is taken (the
    client judges every address it connects to under its own)."""
    literal = _literal_address(url)
    return literal is not None and guard.blocks(*literal)


def make_session(guard: DestinationGuard, connect_timeout_s: float) -> HttpClient:
    return HttpClient(guard, connect_timeout_s)


def error_code_of(exc: BaseException) -> str:
    if isinstance(exc, SendFailed):
        return exc.code
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "TIMEOUT"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "CONNECTION_CLOSED"
    # Refusing to build the request (a URL, a header's text): sending it again cannot help.
    if isinstance(exc, ValueError | TypeError):
        return "INVALID_REQUEST"
    if isinstance(exc, OSError):
        return "CONNECTION_ERROR"
    return "NETWORK_ERROR"


async def send(
    session: HttpClient, request: HttpRequest, timeout_s: float, guard: DestinationGuard
) -> Outcome:
    started = time.perf_counter()
    problem = request_problem(request)
    if problem is not None:
        return Outcome(None, error_code="INVALID_REQUEST", error=problem)
    if literal_address_blocked(request.url, guard):
        return Outcome(
            None, error_code="BLOCKED_DESTINATION", error="the destination is a blocked address"
        )
    try:
        data = request_bytes(request.method, target(request.url), request.headers, request.body)
        answer = await session.exchange(
            request.method, request.url, data, timeout_s, MAX_RESPONSE_BODY
        )
        latency_ms = int((time.perf_counter() - started) * 1000)
        return Outcome(answer.status, answer.headers, bytes(answer.body), latency_ms)
    except Exception as exc:  # every failure of one attempt is its outcome, never the caller's
        return Outcome(
            None,
            latency_ms=int((time.perf_counter() - started) * 1000),
            error_code=error_code_of(exc),
            error=str(exc)[:500] or type(exc).__name__,
        )
