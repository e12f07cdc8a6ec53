"""One relayed request to the local server, and its answer back as a frame.

The request goes out as the relay got it from the deliverer: method, headers in order with
their exact bytes (the provider's signature and ours untouched), the exact body, to the local
base URL plus the relayed path and query. Sending reuses the deliverer's own client code, so
the local server sees what a real destination sees and a failure gets the same error code
(CONNECTION_REFUSED, TIMEOUT, …) a real attempt would.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from deliverer.http_client import HttpClient
from deliverer.outgoing import HttpRequest, Outcome
from deliverer.sending import make_session, send
from deliverer.ssrf import DestinationGuard

# The local server is whatever the developer named: nothing is off limits.
LOCAL_GUARD = DestinationGuard(allow=["0.0.0.0/0", "::/0"])
LOCAL_TIMEOUT_S = 60.0


def local_base(target: str) -> str:
    """`3000` → `http://localhost:3000`; a URL stays (without a trailing slash)."""
    text = target.strip()
    if text.isdigit():
        return f"http://localhost:{int(text)}"
    if "://" not in text:
        text = "http://" + text
    return text.rstrip("/")


def local_port(target: str) -> int | None:
    parts = urlsplit(local_base(target))
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def _value(text: str) -> str | bytes:
    # Frames carry header bytes as latin-1 text: back to those very bytes.
    raw = text.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


@dataclass(frozen=True)
class Forwarded:
    """One event forwarded to the local server: what `fasthook listen` shows of it."""

    event_id: str
    request_id: str
    attempt: str
    method: str
    path: str
    url: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    local_status: int | None
    latency_ms: int
    error_code: str | None
    error: str | None
    at: float = field(default_factory=time.time)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.local_status is not None and 200 <= self.local_status < 300

    def header(self, name: str) -> str:
        return next((v for k, v in self.request_headers if k.lower() == name.lower()), "")

    def summary(self) -> dict[str, Any]:
        """The `--output json` line."""
        return {
            "event_id": self.event_id,
            "request_id": self.request_id,
            "attempt": int(self.attempt) if self.attempt.isdigit() else self.attempt,
            "method": self.method,
            "path": self.path,
            "url": self.url,
            "local_status": self.local_status,
            "latency_ms": self.latency_ms,
            "error_code": self.error_code,
            "error": self.error,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
        }


def request_of(frame: dict[str, Any], base: str) -> HttpRequest:
    body = frame.get("body") or b""  # bytes in a binary frame, base64 in a JSON one
    return HttpRequest(
        method=str(frame["method"]),
        url=base + str(frame.get("path") or "/"),
        headers=[(str(k), _value(str(v))) for k, v in frame.get("headers") or ()],
        body=body if isinstance(body, bytes) else base64.b64decode(body),
    )


def answer_head(frame_id: Any, outcome: Outcome) -> dict[str, Any]:
    """The answer frame without its body (the local server's, `outcome.body`)."""
    if outcome.status is None:
        return {
            "type": "response",
            "id": frame_id,
            "error_code": outcome.error_code,
            "error": outcome.error,
            "latency_ms": outcome.latency_ms,
        }
    return {
        "type": "response",
        "id": frame_id,
        "status": outcome.status,
        "headers": [[k, v] for k, v in outcome.headers],
        "latency_ms": outcome.latency_ms,
    }


def answer_frame(frame_id: Any, outcome: Outcome) -> dict[str, Any]:
    """The answer as a JSON frame (the body in base64)."""
    head = answer_head(frame_id, outcome)
    if outcome.status is None:
        return head
    return {**head, "body": base64.b64encode(outcome.body).decode("ascii")}


def forwarded(frame: dict[str, Any], request: HttpRequest, outcome: Outcome) -> Forwarded:
    headers = [(k, v if isinstance(v, str) else v.decode("latin-1")) for k, v in request.headers]
    found = dict((k.lower(), v) for k, v in headers)
    return Forwarded(
        event_id=found.get("x-fasthook-event-id", ""),
        request_id=found.get("x-fasthook-request-id", ""),
        attempt=found.get("x-fasthook-attempt", ""),
        method=request.method,
        path=str(frame.get("path") or "/"),
        url=request.url,
        request_headers=headers,
        request_body=request.body,
        local_status=outcome.status,
        latency_ms=outcome.latency_ms,
        error_code=outcome.error_code,
        error=outcome.error,
        response_headers=outcome.headers,
        response_body=outcome.body,
    )


class Forwarder:
    def __init__(self, target: str) -> None:
        self.base = local_base(target)
        self._session: HttpClient | None = None

    async def __aenter__(self) -> Forwarder:
        self._session = make_session(LOCAL_GUARD, 5.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def forward(self, frame: dict[str, Any]) -> tuple[Outcome, Forwarded]:
        """The local server's answer to the frame's request, and what to show of it."""
        assert self._session is not None, "use the Forwarder as an async context manager"
        request = request_of(frame, self.base)
        outcome = await send(self._session, request, LOCAL_TIMEOUT_S, LOCAL_GUARD)
        return outcome, forwarded(frame, request, outcome)


async def reachable(target: str, timeout_s: float = 2.0) -> str | None:
    """None when something accepts TCP connections at the local target; else why not."""
    parts = urlsplit(local_base(target))
    host, port = parts.hostname or "localhost", local_port(target) or 80
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError) as exc:
        reason = (
            "connection refused"
            if isinstance(exc, ConnectionRefusedError)
            else (str(exc) or type(exc).__name__)
        )
        return reason
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return None
