"""What a `fasthook listen` session stands on: its own CLI destination, and a connection from
each named source to it.

Each session has an identity, its destination's name (`--name`, by default this user, host
and local port): sessions of one team on other machines or ports get their own events, and a
session started again under the same name takes its destination back (with its history).

Rules: the session owns its connections' filter (from --filter-body / --filter-headers,
replaced each start); every other rule stays as the user last set it. A new connection gets
DEFAULT_RETRY, so a local server that is down or failing sees its events again.
"""

from __future__ import annotations

import getpass
import re
import socket
from dataclasses import dataclass
from typing import Any

from fasthook.listen.api import Api
from fasthook.listen.errors import NotFoundError, UsageError

NAME_MAX = 155
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9 _\-.:/()]+")
DEFAULT_RETRY: dict[str, Any] = {
    "type": "retry",
    "strategy": "linear",
    "count": 5,
    "interval": 5_000,
}


def clean_name(text: str) -> str:
    """`text` in the characters a FastHook name may hold, within its length."""
    return _NOT_IN_NAME.sub("-", text).strip("- ")[:NAME_MAX] or "cli"


def session_name(port: int | None, user: str | None = None, host: str | None = None) -> str:
    """`cli-ada-laptop-3000`: who, where, and to which local port."""
    try:
        who = user or getpass.getuser()
    except (KeyError, OSError):
        who = "user"
    where = (host or socket.gethostname()).split(".")[0]
    return clean_name(f"cli-{who}-{where}" + (f"-{port}" if port else ""))


def filter_rule(body: Any | None, headers: Any | None) -> dict[str, Any] | None:
    if body is None and headers is None:
        return None
    rule: dict[str, Any] = {"type": "filter"}
    if body is not None:
        rule["body"] = body
    if headers is not None:
        rule["headers"] = headers
    return rule


def merged_rules(
    current: list[dict[str, Any]] | None, wanted_filter: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The session's filter first (or none), then every other rule as it was; a connection
    with no rules yet gets DEFAULT_RETRY."""
    kept = [r for r in current or () if r.get("type") != "filter"]
    if current is None:
        kept = [DEFAULT_RETRY]
    return ([wanted_filter] if wanted_filter else []) + kept


def connection_name(source: dict[str, Any], destination: dict[str, Any]) -> str:
    return clean_name(f"{source['name']} to {destination['name']}")


def connection_body(
    source: dict[str, Any],
    destination: dict[str, Any],
    rules: list[dict[str, Any]],
    current: dict[str, Any] | None,
) -> dict[str, Any]:
    body = {
        "name": connection_name(source, destination),
        "source_id": source["id"],
        "destination_id": destination["id"],
        "rules": rules,
    }
    if current is not None and current.get("description"):
        body["description"] = current["description"]
    return body


@dataclass(frozen=True)
class Session:
    destination: dict[str, Any]
    sources: list[dict[str, Any]]
    connections: list[dict[str, Any]]


async def find_source(api: Api, ref: str) -> dict[str, Any]:
    if ref.startswith("src_"):
        found: dict[str, Any] = await api.call("GET", f"/v1/sources/{ref}")
        return found
    named = await api.first_named("sources", ref)
    if named is None:
        raise NotFoundError(
            f"no source named {ref!r} in this team (fasthook listen --source "
            "takes a source's name or its src_… id)"
        )
    return named


async def cli_destination(api: Api, name: str, path: str | None) -> dict[str, Any]:
    body = {
        "name": name,
        "type": "CLI",
        "description": "a `fasthook listen` session",
        "config": {"auth_type": "FASTHOOK_SIGNATURE", **({"path": path} if path else {})},
    }
    current = await api.first_named("destinations", name)
    if current is None:
        created: dict[str, Any] = await api.call("POST", "/v1/destinations", body)
        return created
    if current["type"] != "CLI":
        raise UsageError(
            f"destination {name!r} ({current['id']}) is not a CLI destination: "
            "choose another session name with --name"
        )
    if current["config"].get("path") == path and current["status"] == "enabled":
        return current
    # The session sets its path; the rest (signature scheme, rate limit, …) stays the user's.
    config = {k: v for k, v in current["config"].items() if k not in ("path", "auth")}
    if path:
        config["path"] = path
    updated: dict[str, Any] = await api.call(
        "PUT",
        f"/v1/destinations/{current['id']}",
        {"name": name, "type": "CLI", "description": current.get("description"), "config": config},
    )
    return updated


async def connect(
    api: Api,
    source: dict[str, Any],
    destination: dict[str, Any],
    wanted_filter: dict[str, Any] | None,
) -> dict[str, Any]:
    current = await api.first_named("connections", connection_name(source, destination))
    if current is not None and (current["source_id"], current["destination_id"]) != (
        source["id"],
        destination["id"],
    ):
        current = None  # a namesake of another pair: ours gets created beside it (409 says so)
    rules = merged_rules(current["rules"] if current else None, wanted_filter)
    body = connection_body(source, destination, rules, current)
    if current is None:
        created: dict[str, Any] = await api.call("POST", "/v1/connections", body)
        return created
    connection = current
    if current["rules"] != rules:
        connection = await api.call("PUT", f"/v1/connections/{current['id']}", body)
    if connection["status"] == "disabled":
        connection = await api.call("PUT", f"/v1/connections/{current['id']}/enable")
    return connection


async def provision(
    api: Api,
    source_refs: list[str],
    name: str,
    path: str | None,
    wanted_filter: dict[str, Any] | None,
) -> Session:
    sources = [await find_source(api, ref) for ref in dict.fromkeys(source_refs)]
    destination = await cli_destination(api, name, path)
    connections = [await connect(api, source, destination, wanted_filter) for source in sources]
    return Session(destination, sources, connections)
