"""The hop between the deliverer and the API's relay to connected `fasthook listen` sessions.

A CLI destination has no URL: the deliverer sends each attempt, built and signed as for any
destination, to the API's relay route for the destination, which passes it over the CLI's
WebSocket and answers with what the local server answered. These names are the contract of
that hop; the relay credential itself is derived in `runtime.secrets`.
"""

from __future__ import annotations

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
