"""The routes of the relay: `fasthook listen` dials in on a WebSocket, the deliverer hands over
each attempt of a CLI destination on an HTTP route only it can call.

- `GET /v1/destinations/{id}/listen` (WebSocket; the API key as for any /v1 route): binds the
  socket to the team's CLI destination `{id}`.
- `ANY /relay/{id}`: the deliverer's hop, proven by the relay credential (HMAC of
  FASTHOOK_SECRET_KEY); the local path travels in a header (schemas.relay). The answer is the
  local server's, or an empty answer naming the attempt's error in RELAY_ERROR_HEADER.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from api.app_keys import SETTINGS, TEAM_ID, VIEW
from api.errors import Conflict, NotFound, Unauthorized
from api.relay import CliSession, Relay, SessionGone, error_of, header_pairs, response_of
from runtime.secrets import is_hop_token, relay_tokens
from schemas import limits
from schemas.relay import (
    BINARY_PROTOCOL,
    CLI_DISCONNECTED,
    RELAY_DETAIL_HEADER,
    RELAY_ERROR_HEADER,
    RELAY_HEADERS,
    RELAY_PATH_HEADER,
    RELAY_TOKEN_HEADER,
    unpack_frame,
)

log = logging.getLogger(__name__)

RELAY = web.AppKey("relay", Relay)
RELAY_TOKENS = web.AppKey("relay_tokens", tuple[str, ...])
# Not passed to the CLI: they describe this hop (the CLI's client sets its own).
HOP_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "upgrade",
        *RELAY_HEADERS,
    }
)
# Nor passed back: the relay's own answer frames the body anew.
ANSWER_DROPPED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# A frame carries a body of up to the contract's limit, base64 (4/3) inside JSON.
MAX_FRAME = limits.MAX_BODY_BYTES * 2 + 1024 * 1024
# The relay answers before the deliverer's own timeout would cut it off.
TIMEOUT_MARGIN_S = 0.5


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    app[RELAY] = Relay()
    app[RELAY_TOKENS] = relay_tokens(app[SETTINGS].secret_key)
    yield
    await app[RELAY].close_all(WSCloseCode.SERVICE_RESTART, b"the API is restarting")


async def _close_sessions(app: web.Application) -> None:
    # Before the runner waits for handlers: a session's handler returns once its socket closes.
    await app[RELAY].close_all(WSCloseCode.SERVICE_RESTART, b"the API is restarting")


def cli_destination(request: web.Request, destination_id: str) -> dict[str, Any]:
    held = request.app[VIEW].get("destination", destination_id, request[TEAM_ID])
    if held is None:
        raise NotFound(f"no destination {destination_id}")
    if held.entity.get("type") != "CLI":
        raise Conflict(f"destination {destination_id} is not a CLI destination")
    return held.entity


async def listen(request: web.Request) -> web.StreamResponse:
    destination = cli_destination(request, request.match_info["id"])
    ws = web.WebSocketResponse(heartbeat=15, max_msg_size=MAX_FRAME, protocols=(BINARY_PROTOCOL,))
    await ws.prepare(request)
    session = CliSession(destination["id"], ws, binary=ws.ws_protocol == BINARY_PROTOCOL)
    relay = request.app[RELAY]
    await relay.attach(session)
    log.info("cli session attached", extra={"destination_id": destination["id"]})
    try:
        await ws.send_str(
            json.dumps(
                {
                    "type": "ready",
                    "destination": {
                        "id": destination["id"],
                        "name": destination["name"],
                        "config": {"path": destination.get("config", {}).get("path")},
                    },
                }
            )
        )
        async for message in ws:
            frame = frame_of(message)
            if isinstance(frame, dict) and frame.get("type") == "response":
                session.answered(frame)
    finally:
        relay.detach(session)
        log.info("cli session detached", extra={"destination_id": destination["id"]})
    return ws


def frame_of(message: WSMessage) -> Any:
    """The frame of a session's message (text: JSON; binary: schemas.relay's); None when it
    is none — not ours to guess at: the attempt it meant times out."""
    try:
        if message.type == WSMsgType.BINARY:
            return unpack_frame(message.data)
        if message.type == WSMsgType.TEXT:
            return json.loads(message.data)
    except ValueError:
        pass
    return None


async def whole_body(request: web.Request) -> bytes:
    """The body the deliverer sends, up to the contract's limit: not capped by the API's own
    `client_max_size`, which is sized for JSON requests, not providers' bodies."""
    return await request.content.read()


def _failed(error_code: str, detail: str, status: int = 502) -> web.Response:
    # Header values are one line: a detail from afar must not split the answer.
    line = " ".join(detail.split())[:400].encode("ascii", "replace").decode("ascii")
    return web.Response(
        status=status, headers={RELAY_ERROR_HEADER: error_code, RELAY_DETAIL_HEADER: line}
    )


async def relay(request: web.Request) -> web.Response:
    accepted = request.app[RELAY_TOKENS]
    if not is_hop_token(accepted, request.headers.get(RELAY_TOKEN_HEADER)):
        raise Unauthorized("the relay serves the deliverer only")
    destination_id = request.match_info["id"]
    session = request.app[RELAY].sessions.get(destination_id)
    if session is None:
        return _failed(
            CLI_DISCONNECTED,
            f"no `fasthook listen` session is connected for destination {destination_id}",
            503,
        )
    held = request.app[VIEW].get("destination", destination_id)
    timeout_ms = ((held.entity.get("config") or {}) if held else {}).get("timeout_ms", 30_000)
    try:
        frame = await session.exchange(
            request.method,
            request.headers.get(RELAY_PATH_HEADER) or "/",
            header_pairs(request.raw_headers, HOP_HEADERS),
            await whole_body(request),
            max(0.1, timeout_ms / 1000 - TIMEOUT_MARGIN_S),
        )
    except SessionGone as exc:
        return _failed(CLI_DISCONNECTED, str(exc), 503)
    except TimeoutError:
        return _failed("TIMEOUT", "the local server did not answer in time", 504)
    answer = response_of(frame)
    if answer is None:
        return _failed(
            error_of(frame), str(frame.get("error") or "the local server could not be reached")
        )
    status, headers, body = answer
    kept = [(k, v) for k, v in headers if k.lower() not in ANSWER_DROPPED]
    response = web.Response(status=status, body=body)
    response.headers.clear()
    for name, value in kept:
        response.headers.add(name, value)
    return response


def listen_routes() -> list[web.RouteDef]:
    return [web.get("/v1/destinations/{id}/listen", listen), web.route("*", "/relay/{id}", relay)]


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(relay_ctx)
    app.on_shutdown.append(_close_sessions)
    app.add_routes(listen_routes())
