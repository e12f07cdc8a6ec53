"""Routing one request on one connection: rules in order → an event, or why not.

Pure except for the transformation, which is passed in (it runs in a sandbox, off the loop).
Ids are derived from (request, connection), so routing the same request twice — after a crash —
produces the same event and ignored ids, and downstream can drop the repeat.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from router.connections import Connection
from router.conversions import (
    apply_transformation,
    outgoing_from_request,
    provider_fields,
    request_view,
    transformation_input,
    view_after,
)
from router.dedupe import dedupe_key
from router.transform import TransformationFailed
from router.validation import InvalidOutput
from schemas.filters import request_matches
from schemas.ids import derived_id
from schemas.limits import HOP_HEADER, MAX_HOPS, hop_count

# (team id, code, env, request, context) → the transformation's output.
Transform = Callable[[str, str, dict[str, str], dict[str, Any], dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Routed:
    event: dict[str, Any]
    # (key, window ms) when a deduplicate rule still has to pass the event.
    dedupe: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    record: dict[str, Any]


def ignored(
    request: dict[str, Any], connection: Connection, cause: str, detail: str | None, at_ms: int
) -> Ignored:
    return Ignored(
        {
            "ignored_id": derived_id(
                "ign", request["received_at"], request["request_id"], connection.id
            ),
            "request_id": request["request_id"],
            "team_id": request["team_id"],
            "source_id": request["source_id"],
            "connection_id": connection.id,
            "cause": cause,
            "detail": detail,
            "created_at": at_ms,
        }
    )


def connections_for(request: dict[str, Any], connections: list[Connection]) -> list[Connection]:
    """A replay may name the connections it re-runs; otherwise every connection of the source."""
    wanted = request.get("connection_ids")
    return [c for c in connections if wanted is None or c.id in wanted]


def transforms(connection: Connection) -> bool:
    """Whether routing on this connection runs a transformation (and so may wait for it)."""
    return any(rule.get("type") == "transformation" for rule in connection.rules)


async def route(
    request: dict[str, Any],
    connection: Connection,
    destination_enabled: bool,
    transform: Transform,
    at_ms: int,
) -> Routed | Ignored:
    """The request on one connection: an event, or why not. `at_ms` is the time the records
    carry (the caller passes the request's received_at, so routing again is idempotent)."""
    hops = hop_count(request["headers"])
    if hops >= MAX_HOPS:
        return ignored(
            request,
            connection,
            "LOOP_DETECTED",
            f"the request has made {hops} gateway hops ({HOP_HEADER}); at "
            f"{MAX_HOPS} it is not delivered again",
            at_ms,
        )
    if not connection.enabled:
        return ignored(request, connection, "DISABLED", "the connection is disabled", at_ms)
    if not destination_enabled:
        return ignored(request, connection, "DISABLED", "the destination is disabled", at_ms)
    outgoing = outgoing_from_request(request)
    provider = provider_fields(request)
    view = request_view(outgoing, provider)
    delay_ms = 0
    dedupe_rule: dict[str, Any] | None = None
    for index, rule in enumerate(connection.rules):
        kind = rule.get("type")
        if kind == "filter" and not request_matches(rule, view):
            return ignored(request, connection, "FILTERED", f"rules[{index}] did not match", at_ms)
        if kind == "transformation":
            context = {
                "connection": {"id": connection.id, "name": connection.name},
                "request_id": request["request_id"],
                "source_id": request["source_id"],
                "env": rule.get("env") or {},
            }
            before = transformation_input(view, outgoing)
            try:
                after = await transform(
                    request["team_id"], rule["code"], rule.get("env") or {}, before, context
                )
                changed = apply_transformation(outgoing, before, after)
            except (TransformationFailed, InvalidOutput) as exc:
                return ignored(request, connection, "TRANSFORMATION_FAILED", str(exc), at_ms)
            view = view_after(view, outgoing, changed, provider)
            outgoing = changed
        elif kind == "delay":
            delay_ms += int(rule["delay"])
        elif kind == "deduplicate":
            dedupe_rule = rule
    event = {
        "event_id": derived_id("evt", request["received_at"], request["request_id"], connection.id),
        "request_id": request["request_id"],
        "team_id": request["team_id"],
        "source_id": request["source_id"],
        "connection_id": connection.id,
        "destination_id": connection.destination_id,
        "created_at": at_ms,
        "due_at": at_ms + delay_ms,
        "attempt_number": 1,
        "trigger": "INITIAL",
        "source_url": request["public_url"],
        "request": outgoing,
        "bulk_id": None,
    }
    # An operator's replay is deliberate: it is never dropped as a duplicate.
    if dedupe_rule is not None and request.get("replay_of") is None:
        key = dedupe_key(connection.id, dedupe_rule, view)
        return Routed(event, (key, int(dedupe_rule["window"])))
    return Routed(event)
