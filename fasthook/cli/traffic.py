"""`fasthook requests|events|attempts list|get`, `events retry`, `requests replay`: what came
in, what went out, and doing it again."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from fasthook.cli.app import Session, examples, pass_session
from fasthook.cli.output import note, output_option, show_list, show_one
from fasthook.cli.resources import CONNECTIONS, DESTINATIONS, SOURCES, Kind, lookup


@dataclass(frozen=True)
class Filter:
    """An option that becomes one query parameter of the list route."""

    option: str
    param: str
    help: str
    choices: tuple[str, ...] = ()
    resolve: Kind | None = None  # a name is looked up to its id

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")

    def decorate(self, func: Callable[..., Any]) -> Callable[..., Any]:
        kind: Any = click.Choice(self.choices, case_sensitive=False) if self.choices else None
        return click.option(self.option, self.dest, type=kind, default=None, help=self.help)(func)


SINCE = Filter(
    "--since", "created_at[gte]", "Created at or after (RFC 3339, e.g. 2025-01-01T00:00:00Z)."
)
UNTIL = Filter("--until", "created_at[lte]", "Created at or before (RFC 3339).")
Q = Filter("--q", "q", "Case-insensitive search over ids, path, query, headers and body.")
EVENT_STATUSES = ("QUEUED", "SCHEDULED", "HOLD", "SUCCESSFUL", "FAILED", "CANCELLED")

FILTERS: dict[str, tuple[Filter, ...]] = {
    "requests": (
        Filter("--source", "source_id", "Source id or name.", resolve=SOURCES),
        Filter("--status", "status", "accepted or rejected.", ("accepted", "rejected")),
        Filter("--rejection-cause", "rejection_cause", "e.g. VERIFICATION_FAILED."),
        Filter("--event-type", "event_type", "The provider's event type."),
        Filter("--idempotency-key", "idempotency_key", "The provider's delivery id."),
        Q,
        SINCE,
        UNTIL,
    ),
    "events": (
        Filter("--source", "source_id", "Source id or name.", resolve=SOURCES),
        Filter("--connection", "connection_id", "Connection id or name.", resolve=CONNECTIONS),
        Filter("--destination", "destination_id", "Destination id or name.", resolve=DESTINATIONS),
        Filter("--request", "request_id", "The request the events came from."),
        Filter("--status", "status", "The event's status.", EVENT_STATUSES),
        Filter("--response-status", "response_status", "The last response's HTTP status."),
        Filter("--error-code", "error_code", "e.g. TIMEOUT, CONNECTION_REFUSED."),
        Q,
        SINCE,
        UNTIL,
    ),
    "attempts": (Filter("--event", "event_id", "The event whose attempts to list."), SINCE, UNTIL),
    "ignored-events": (
        Filter("--request", "request_id", "The request that was not routed."),
        Filter("--connection", "connection_id", "Connection id or name.", resolve=CONNECTIONS),
        Filter("--cause", "cause", "e.g. FILTERED, TRANSFORMATION_FAILED, DUPLICATE."),
        SINCE,
        UNTIL,
    ),
}
COLUMNS = {
    "requests": ("id", "created_at", "source_id", "status", "rejection_cause", "events_count"),
    "events": (
        "id",
        "created_at",
        "status",
        "attempts",
        "response_status",
        "error_code",
        "connection_id",
    ),
    "attempts": (
        "id",
        "created_at",
        "event_id",
        "attempt_number",
        "trigger",
        "status",
        "response_status",
        "response_latency_ms",
        "error_code",
    ),
    "ignored-events": ("id", "created_at", "request_id", "connection_id", "cause", "detail"),
}
SINGULAR = {
    "requests": "request",
    "events": "event",
    "attempts": "attempt",
    "ignored-events": "ignored event",
}
PREFIX = {"requests": "req_", "events": "evt_", "attempts": "atm_", "ignored-events": "ign_"}
# What the list route does not take (the ignored events' route has no data to include).
WITHOUT_DATA = ("ignored-events",)


def filter_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--filter k=v` (repeatable): any filter the API takes, by its API name."""
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--filter")
        found[key.strip()] = value
    return found


def filter_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--filter",
        "-f",
        "pairs",
        multiple=True,
        metavar="KEY=VALUE",
        help="Any filter of the API by its name, e.g. created_at[gte]=… (repeatable).",
    )(func)


def query_from(
    session: Session, plural: str, given: dict[str, Any], pairs: tuple[str, ...]
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for flt in FILTERS[plural]:
        value = given.get(flt.dest)
        if value is None:
            continue
        if flt.resolve is not None:
            value = lookup(session.client(), flt.resolve, value)["id"]
        elif flt.choices:
            value = next(c for c in flt.choices if c.lower() == value.lower())
        query[flt.param] = value
    query.update(filter_pairs(pairs))
    return query


def make_group(plural: str) -> click.Group:
    noun, prefix = SINGULAR[plural], PREFIX[plural]

    @click.group(plural)
    @examples(
        f"fasthook {plural} list --limit 20",
        f"fasthook {plural} get {prefix}01H…",
        doc=f"Search and inspect {plural.replace('-', ' ')} (the /v1/{plural} API).",
    )
    def group() -> None:
        pass

    def list_(
        session: Session,
        limit: int | None,
        output: str,
        pairs: tuple[str, ...],
        include_data: bool = False,
        **given: Any,
    ) -> None:
        query = query_from(session, plural, given, pairs)
        if include_data:
            query["include_data"] = True
        models = session.client().pages(f"/v1/{plural}", query, limit)
        show_list(models, COLUMNS[plural], output)

    decorated: Callable[..., Any] = list_
    for flt in reversed(FILTERS[plural]):
        decorated = flt.decorate(decorated)
    decorated = click.option(
        "--limit",
        type=click.IntRange(1),
        default=100,
        show_default=True,
        help="At most this many (pages are followed).",
    )(decorated)
    if plural not in WITHOUT_DATA:
        decorated = click.option(
            "--include-data",
            is_flag=True,
            help="Add each one's data (method, path, headers, body).",
        )(decorated)
    example = {
        "requests": "fasthook requests list --source twilio --status rejected",
        "events": "fasthook events list --status FAILED --output json | jq -r .id",
        "attempts": "fasthook attempts list --event evt_01H…",
        "ignored-events": "fasthook ignored-events list --cause FILTERED",
    }[plural]
    decorated = examples(
        example,
        f"fasthook {plural} list --filter 'created_at[gte]=2025-01-01'",
        doc=f"List {plural.replace('-', ' ')}, newest first, filtered.",
    )(filter_option(output_option(pass_session(decorated))))
    group.command("list")(decorated)

    @group.command("get")
    @click.argument("item_id", metavar="ID")
    @output_option
    @pass_session
    @examples(
        f"fasthook {plural} get {prefix}01H…",
        doc=f"Show one {noun}, with its data (method, path, headers, body).",
    )
    def get(session: Session, item_id: str, output: str) -> None:
        show_one(session.client().call("GET", f"/v1/{plural}/{item_id}"), output)

    return group


REQUESTS, EVENTS, ATTEMPTS, IGNORED = (
    make_group(p) for p in ("requests", "events", "attempts", "ignored-events")
)


@REQUESTS.command("raw-body")
@click.argument("request_id", metavar="ID")
@pass_session
@examples(
    "fasthook requests raw-body req_01H… > body.bin",
    "fasthook requests raw-body req_01H… | sha256sum",
)
def raw_body(session: Session, request_id: str) -> None:
    """Write a request's body to stdout exactly as the provider sent it (bytes, unchanged)."""
    data = session.client().raw(f"/v1/requests/{request_id}/raw_body")
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@EVENTS.command("retry")
@click.argument("event_id", metavar="ID")
@output_option
@pass_session
@examples("fasthook events retry evt_01H…")
def retry_event(session: Session, event_id: str, output: str) -> None:
    """Deliver an event again now, whatever its status (a new attempt, trigger MANUAL)."""
    show_one(session.client().call("POST", f"/v1/events/{event_id}/retry"), output)
    note(f"event {event_id} queued for a new attempt")


@REQUESTS.command("replay")
@click.argument("request_id", metavar="ID")
@click.option(
    "--connection",
    "connections",
    multiple=True,
    metavar="ID|NAME",
    help="Only through these connections (repeatable; default: all of its source's).",
)
@output_option
@pass_session
@examples(
    "fasthook requests replay req_01H…", "fasthook requests replay req_01H… --connection sms-to-app"
)
def replay_request(
    session: Session, request_id: str, connections: tuple[str, ...], output: str
) -> None:
    """Run a stored request through its connections' current rules again (after a routing,
    filter or transformation change)."""
    client = session.client()
    body: dict[str, Any] = {}
    if connections:
        body["connection_ids"] = [lookup(client, CONNECTIONS, c)["id"] for c in connections]
    show_one(client.call("POST", f"/v1/requests/{request_id}/retry", json=body), output)
    note(f"request {request_id} replayed")


COMMANDS = (REQUESTS, EVENTS, ATTEMPTS, IGNORED)
