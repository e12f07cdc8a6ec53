"""CLI destinations: the same attempt as for any destination, carried by the API's relay.

A CLI destination has no URL. Its attempt is built by `build_request` against a stand-in URL,
`cli://<destination id><config.path><request path>?<query>`, which is what the attempt records
(`requested_url`), with every delivery header and signature. Only the transport differs: the
request goes to the relay route of the API (a URL from our settings, never from user input, so
the destination guard that keeps deliveries off the gateway's own ports does not apply to it),
with the local path and the relay credential in headers of its own.

The relay's answer is the local server's; when there is none, the relay names the error in a
header and the outcome becomes that transport error (no status), so the retry rule treats it
as any unreachable destination. A relay that cannot be reached at all means no session can be
either: CLI_DISCONNECTED.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from deliverer.http_client import HttpClient
from deliverer.outgoing import HttpRequest, Outcome
from deliverer.sending import make_session, send
from deliverer.ssrf import DestinationGuard
from runtime.secrets import relay_token
from runtime.settings import Settings
from schemas.relay import (
    CLI_DISCONNECTED,
    RELAY_DETAIL_HEADER,
    RELAY_ERROR_HEADER,
    RELAY_PATH_HEADER,
    RELAY_TOKEN_HEADER,
    relay_route,
)

CLI_SCHEME = "cli://"
# The relay's address is ours: nothing to guard against there.
RELAY_GUARD = DestinationGuard(allow=["0.0.0.0/0", "::/0"])
# Failing to reach the relay itself: no session can be reached through it.
UNREACHABLE = frozenset(
    {"CONNECTION_REFUSED", "CONNECTION_ERROR", "CONNECTION_CLOSED", "DNS_FAILURE", "NETWORK_ERROR"}
)


def is_cli(destination: dict[str, Any]) -> bool:
    return destination.get("type") == "CLI"


def addressed(destination: dict[str, Any]) -> dict[str, Any]:
    """`destination` as `build_request` reads it: the stand-in URL, the request's path and
    query after the CLI destination's own path."""
    config = destination.get("config") or {}
    url = f"{CLI_SCHEME}{destination['id']}{config.get('path') or ''}"
    return {**destination, "config": {**config, "url": url, "path_forwarding": True}}


def local_path(request: HttpRequest, destination_id: str) -> str:
    """The path and query on the local server, from the stand-in URL."""
    tail = request.url.removeprefix(f"{CLI_SCHEME}{destination_id}")
    return tail if tail.startswith("/") else "/" + tail


def transport(
    request: HttpRequest, destination_id: str, relay_base: str, token: str
) -> HttpRequest:
    """The request to the relay that carries `request`."""
    return dataclasses.replace(
        request,
        url=relay_base + relay_route(destination_id),
        headers=[
            *request.headers,
            (RELAY_PATH_HEADER, local_path(request, destination_id)),
            (RELAY_TOKEN_HEADER, token),
        ],
    )


def relayed(outcome: Outcome) -> Outcome:
    """The attempt's outcome from the relay's answer."""
    if outcome.status is None:
        if outcome.error_code in UNREACHABLE:
            return dataclasses.replace(
                outcome,
                error_code=CLI_DISCONNECTED,
                error=f"the relay is not reachable: {outcome.error}",
            )
        return outcome
    error_code = outcome.header(RELAY_ERROR_HEADER)
    if error_code is None:
        return outcome
    return Outcome(
        None,
        latency_ms=outcome.latency_ms,
        error_code=error_code,
        error=outcome.header(RELAY_DETAIL_HEADER) or error_code,
    )


class RelayClient:
    """Sends CLI destinations' attempts through the API's relay."""

    def __init__(self, settings: Settings) -> None:
        self.base = settings.relay_base_url
        self.token = relay_token(settings.secret_key)
        self.connect_timeout_s = settings.delivery_connect_timeout_s
        self._session: HttpClient | None = None  # made on the first CLI attempt

    async def send(self, request: HttpRequest, destination_id: str, timeout_s: float) -> Outcome:
        if self._session is None:
            self._session = make_session(RELAY_GUARD, self.connect_timeout_s)
        carried = transport(request, destination_id, self.base, self.token)
        return relayed(await send(self._session, carried, timeout_s, RELAY_GUARD))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
