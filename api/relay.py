"""The relay to connected `fasthook listen` sessions: one WebSocket per CLI destination.

The deliverer sends a CLI destination's attempt here as an HTTP request (built, signed and
limited as for any destination); the relay passes it to the session as a `request` frame and
waits for the session's `response` frame: what the local server answered, or why it did not.

Frames are JSON text (the protocol is small and readable in a debugger):
- api → cli: `{"type": "ready", "destination": {id, name, config}}` once attached;
  `{"type": "request", "id": n, "method", "path", "headers": [[name, value], …], "body": b64}`.
- cli → api: `{"type": "response", "id": n, "status", "headers", "body": b64, "latency_ms"}`
  or `{"type": "response", "id": n, "error_code": "CONNECTION_REFUSED", "error": "…"}`.
Header values travel as their bytes read as latin-1, so any byte survives the trip.
A session that negotiates the binary subprotocol (schemas.relay.BINARY_PROTOCOL, what
`fasthook listen` offers) gets the same frames as binary messages, each body as raw bytes
after a small JSON head: no base64 and no JSON escaping of bodies on the hot path.

One session per destination: a newer one replaces the older (closed with REPLACED), which is
also what a CLI reconnecting after a network drop needs while its old socket still looks open.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from api.errors import ControlPlaneError
from schemas.relay import REPLACED_CLOSE_CODE, pack_frame


class SessionGone(ControlPlaneError):
    """The session closed (or was replaced) before it answered."""


def header_pairs(
    raw_headers: tuple[tuple[bytes, bytes], ...], dropped: frozenset[str]
) -> list[list[str]]:
    """The request's headers as frame pairs, in order, minus `dropped` (lower-case names)."""
    return [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in raw_headers
        if name.lower().decode("latin-1") not in dropped
    ]


def request_head(frame_id: int, method: str, path: str, headers: list[list[str]]) -> dict[str, Any]:
    return {"type": "request", "id": frame_id, "method": method, "path": path, "headers": headers}


def request_frame(
    frame_id: int, method: str, path: str, headers: list[list[str]], body: bytes
) -> str:
    return json.dumps(
        {
            **request_head(frame_id, method, path, headers),
            "body": base64.b64encode(body).decode("ascii"),
        }
    )


# What a session may name as the reason there is no local answer: the transport errors a
# delivery can have. Anything else (the CLI is the user's program) reads as NETWORK_ERROR, so a
# session cannot cancel its events or mark them as our own failures.
LOCAL_ERRORS = frozenset(
    {
        "CONNECTION_REFUSED",
        "CONNECTION_ERROR",
        "CONNECTION_CLOSED",
        "DNS_FAILURE",
        "TLS_ERROR",
        "TIMEOUT",
        "NETWORK_ERROR",
        "INVALID_REQUEST",
    }
)
_UNSAFE = ("\r", "\n", "\x00")


def error_of(frame: dict[str, Any]) -> str:
    code = frame.get("error_code")
    return code if code in LOCAL_ERRORS else "NETWORK_ERROR"


def response_of(frame: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """(status, headers, body) of a `response` frame; None when it carries an error instead
    (or no usable status). Header lines that would split the answer are dropped."""
    status = frame.get("status")
    if frame.get("error_code") or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    headers = [
        (str(k), str(v))
        for k, v in frame.get("headers") or ()
        if not any(c in str(k) + str(v) for c in _UNSAFE)
    ]
    body = frame.get("body") or b""
    if isinstance(body, bytes):  # a binary frame's
        return status, headers, body
    try:
        return status, headers, base64.b64decode(body, validate=True)
    except ValueError:  # not base64: no answer we can pass on
        return None


@dataclass
class CliSession:
    destination_id: str
    ws: web.WebSocketResponse
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    # Negotiated on the handshake: the session speaks binary frames.
    binary: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def exchange(
        self, method: str, path: str, headers: list[list[str]], body: bytes, timeout_s: float
    ) -> dict[str, Any]:
        """Send one request frame and wait for its response frame (TimeoutError, SessionGone)."""
        frame_id = next(self._ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[frame_id] = answer
        try:
            try:
                if self.binary:
                    await self.ws.send_bytes(
                        pack_frame(request_head(frame_id, method, path, headers), body)
                    )
                else:
                    await self.ws.send_str(request_frame(frame_id, method, path, headers, body))
            except (ConnectionError, RuntimeError) as exc:
                raise SessionGone(f"the session's socket closed: {exc}") from None
            return await asyncio.wait_for(answer, timeout_s)
        finally:
            self.pending.pop(frame_id, None)

    def answered(self, frame: dict[str, Any]) -> None:
        waiter = self.pending.get(frame.get("id"))  # type: ignore[arg-type]
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def close_pending(self, why: str) -> None:
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(SessionGone(why))


class Relay:
    """The sessions this API process holds, by destination id."""

    def __init__(self) -> None:
        self.sessions: dict[str, CliSession] = {}

    async def attach(self, session: CliSession) -> None:
        previous = self.sessions.get(session.destination_id)
        self.sessions[session.destination_id] = session
        if previous is not None:
            previous.close_pending("replaced by a newer session")
            await previous.ws.close(
                code=REPLACED_CLOSE_CODE, message=b"a newer session of this destination connected"
            )

    def detach(self, session: CliSession) -> None:
        if self.sessions.get(session.destination_id) is session:
            del self.sessions[session.destination_id]
        session.close_pending("the session disconnected")

    async def close_all(self, code: int, message: bytes) -> None:
        for session in list(self.sessions.values()):
            session.close_pending("the API is stopping")
            await session.ws.close(code=code, message=message)
        self.sessions.clear()
