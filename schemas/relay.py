"""The hop between the deliverer and the API's relay to connected `fasthook listen` sessions.

A CLI destination has no URL: the deliverer sends each attempt, built and signed as for any
destination, to the API's relay route for the destination, which passes it over the CLI's
WebSocket and answers with what the local server answered. These names are the contract of
that hop; the relay credential itself is derived in `runtime.secrets`.
"""

from __future__ import annotations

import json
from typing import Any

# What the deliverer's request carries besides the event's own request (both removed by the
# relay before the CLI sees anything).
RELAY_TOKEN_HEADER = "x-fasthook-relay-token"
# The path and raw query on the local server: `/webhooks/twilio/status?x=1`. In a header, not in
# the relay URL: a provider's `..` must not walk the relay request to another API route.
RELAY_PATH_HEADER = "x-fasthook-relay-path"
# Set on the relay's answer when there is no local answer to pass back: the attempt's error code
# (CLI_DISCONNECTED, CONNECTION_REFUSED, TIMEOUT, …) and a one-line detail.
RELAY_ERROR_HEADER = "x-fasthook-relay-error"
RELAY_DETAIL_HEADER = "x-fasthook-relay-detail"
RELAY_HEADERS = frozenset({RELAY_TOKEN_HEADER, RELAY_PATH_HEADER})

# The close code of a session replaced by a newer one of the same destination (4000-4999 are
# an application's own, RFC 6455 §7.4.2).
REPLACED_CLOSE_CODE = 4000

# No `fasthook listen` session holds the destination's socket (or the relay is not reachable).
CLI_DISCONNECTED = "CLI_DISCONNECTED"


def relay_route(destination_id: str) -> str:
    """The relay's path for one CLI destination, under the API's base URL."""
    return f"/relay/{destination_id}"


# The WebSocket subprotocol of binary frames. A session that offers it (and an API that accepts
# it) exchanges each request and answer as one binary message: `pack_frame`'s 4-byte length of
# a small JSON head (the frame without its body), the head, then the body's raw bytes — no
# base64 of the body and no JSON escaping of it, each way. Without it, frames are the JSON text
# of `api.relay` (the first protocol, which older sessions and the API keep speaking).
BINARY_PROTOCOL = "fasthook.relay.binary.v1"
_HEAD_LENGTH = 4


# One encoder for every frame: json.dumps with separators builds a new one per call.
_HEAD_ENCODER = json.JSONEncoder(separators=(",", ":"))


def pack_frame(head: dict[str, Any], body: bytes) -> bytes:
    """One binary frame: `head` (no body in it) as JSON, then `body` as is."""
    encoded = _HEAD_ENCODER.encode(head).encode()
    return len(encoded).to_bytes(_HEAD_LENGTH, "big") + encoded + body


def unpack_frame(data: bytes) -> dict[str, Any]:
    """The frame of a binary message, its `body` as bytes (ValueError when it is none)."""
    size = int.from_bytes(data[:_HEAD_LENGTH], "big")
    if len(data) < _HEAD_LENGTH or len(data) < _HEAD_LENGTH + size:
        raise ValueError("a binary frame shorter than its head")
    head = json.loads(data[_HEAD_LENGTH : _HEAD_LENGTH + size])
    if not isinstance(head, dict):
        raise ValueError("a binary frame's head is not a JSON object")
    head["body"] = bytes(data[_HEAD_LENGTH + size :])
    return head
