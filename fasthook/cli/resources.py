"""`fasthook sources|destinations|connections …`: the configuration verbs, one factory for the
three (they share the API's verbs), each with the flags its body needs."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem

from fasthook.cli.app import Session, examples, pass_session
from fasthook.cli.client import ApiError, Client
from fasthook.cli.output import note, output_option, show_list, show_one
from fasthook.cli.profiles import config_path
from schemas.errors import FastHookError

# Fields a PUT takes back (the rest of a model is the API's: ids, url, times).
INPUT_FIELDS = (
    "name",
    "description",
    "type",
    "status",
    "config",
    "source_id",
    "destination_id",
    "rules",
)


@dataclass(frozen=True)
class Flag:
    """A command-line flag that sets one field of the body (`config.url` → ("config", "url"))."""

    option: str
    path: tuple[str, ...]
    help: str
    kind: str = "text"  # text | json | list (comma-separated) | int

    @property
    def dest(self) -> str:
        return self.option.lstrip("-").replace("-", "_")

    def decorate(self, func: Callable[..., Any]) -> Callable[..., Any]:
        kind: Any = click.INT if self.kind == "int" else click.STRING
        metavar = {"json": "JSON", "list": "A,B", "int": "N"}.get(self.kind, "TEXT")
        return click.option(
            self.option, self.dest, type=kind, default=None, metavar=metavar, help=self.help
        )(func)

    def value(self, raw: Any) -> Any:
        if self.kind == "json":
            return parse_json(raw, self.option)
        if self.kind == "list":
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


@dataclass(frozen=True)
class Kind:
    singular: str
    plural: str
    prefix: str
    columns: tuple[str, ...]
    flags: tuple[Flag, ...]
    actions: tuple[str, ...]
    create_example: str


NAME = Flag("--name", ("name",), "Unique name in the team.")
DESCRIPTION = Flag("--description", ("description",), "Free text.")
AUTH = Flag(
    "--auth", ("config", "auth"), "The auth's settings as JSON (secrets are write-only).", "json"
)

SOURCES = Kind(
    "source",
    "sources",
    "src_",
    ("id", "name", "status", "url"),
    (
        NAME,
        DESCRIPTION,
        Flag(
            "--auth-type",
            ("config", "auth_type"),
            "TWILIO, HMAC, BASIC_AUTH, API_KEY, STRIPE, GITHUB, … (see docs/api.md).",
        ),
        AUTH,
        Flag(
            "--allowed-methods",
            ("config", "allowed_http_methods"),
            "HTTP methods the source accepts, e.g. POST,GET.",
            "list",
        ),
        Flag(
            "--custom-response",
            ("config", "custom_response"),
            'What the provider gets back, e.g. {"content_type":"json","body":"{}"}.',
            "json",
        ),
    ),
    ("disable", "enable"),
    'fasthook sources create --name twilio --auth-type TWILIO --auth \'{"auth_token":"…"}\'',
)
DESTINATIONS = Kind(
    "destination",
    "destinations",
    "des_",
    ("id", "name", "status", "type", "config.url"),
    (
        NAME,
        DESCRIPTION,
        Flag("--type", ("type",), "HTTP (the default) or CLI (a `fasthook listen` session)."),
        Flag("--url", ("config", "url"), "Where events are delivered."),
        Flag(
            "--http-method", ("config", "http_method"), "Force a method (default: the request's)."
        ),
        Flag(
            "--auth-type",
            ("config", "auth_type"),
            "FASTHOOK_SIGNATURE, STANDARD_WEBHOOKS, BASIC_AUTH, API_KEY or BEARER_TOKEN.",
        ),
        AUTH,
        Flag("--rate-limit", ("config", "rate_limit"), "Deliveries per period.", "int"),
        Flag(
            "--rate-limit-period",
            ("config", "rate_limit_period"),
            "second, minute, hour or concurrent.",
        ),
    ),
    ("disable", "enable"),
    "fasthook destinations create --name app --url https://example.com/hooks "
    "--auth-type FASTHOOK_SIGNATURE",
)
CONNECTIONS = Kind(
    "connection",
    "connections",
    "con_",
    ("id", "name", "status", "source_id", "destination_id"),
    (
        NAME,
        DESCRIPTION,
        Flag("--source", ("source_id",), "Source id or name."),
        Flag("--destination", ("destination_id",), "Destination id or name."),
        Flag(
            "--rules",
            ("rules",),
            "The rules as a JSON list (filter, transformation, retry, …).",
            "json",
        ),
    ),
    ("disable", "enable", "pause", "unpause"),
    "fasthook connections create --name sms --source twilio --destination app "
    '--rules \'[{"type":"retry","strategy":"linear","count":3,"interval":1000}]\'',
)
KINDS = (SOURCES, DESTINATIONS, CONNECTIONS)


def parse_json(raw: str, what: str) -> Any:
    """JSON given inline, as `@file`, or `-` for stdin."""
    if raw == "-":
        raw = sys.stdin.read()
    elif raw.startswith("@"):
        try:
            raw = Path(raw[1:]).read_text()
        except OSError as exc:
            raise click.BadParameter(str(exc), param_hint=what) from None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from None


def put_at(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        if not isinstance(body.get(part), dict):
            body[part] = {}
        body = body[part]
    body[path[-1]] = value


def editable(model: dict[str, Any]) -> dict[str, Any]:
    """A model as the body a PUT takes back: input fields only; `paused` is the API's view."""
    body = {k: copy.deepcopy(v) for k, v in model.items() if k in INPUT_FIELDS}
    if body.get("status") == "paused":
        body["status"] = "enabled"
    return body


def lookup(client: Client, kind: Kind, ref: str) -> dict[str, Any]:
    """An id, or a name (resolved through the list's `name` filter)."""
    plural = kind.plural
    if ref.startswith(kind.prefix):
        model: dict[str, Any] = client.call("GET", f"/v1/{plural}/{ref}")
        return model
    models: list[dict[str, Any]] = client.call(
        "GET", f"/v1/{plural}", params={"name": ref, "limit": 1}
    )["models"]
    if not models:
        raise ApiError(404, {"title": "Not Found", "detail": f"no {kind.singular} named {ref!r}"})
    return models[0]


def completer(kind: Kind) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """Shell completion of an ID|NAME argument: the names (and ids) the API lists, or nothing
    when the API cannot be asked (never an error in the middle of a command line)."""

    def complete(ctx: click.Context, _: click.Parameter, incomplete: str) -> list[CompletionItem]:
        import httpx  # as the client does: only when a command calls the API

        session = Session(ctx.find_root().params.get("profile"), config_path())
        try:
            with Client(session.profile(), timeout_s=2) as client:
                models = list(client.pages(f"/v1/{kind.plural}", {}, 250))
        except (FastHookError, httpx.HTTPError):
            return []
        refs = [m["id"] if incomplete.startswith(kind.prefix) else m["name"] for m in models]
        return [CompletionItem(ref) for ref in refs if ref.startswith(incomplete)]

    return complete


def body_from(
    client: Client, kind: Kind, base: dict[str, Any], data: str | None, given: dict[str, Any]
) -> dict[str, Any]:
    body = base
    if data:
        extra = parse_json(data, "--data")
        if not isinstance(extra, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--data")
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(body.get(key), dict):
                body[key] = {**body[key], **value}
            else:
                body[key] = value
    for flag in kind.flags:
        raw = given.get(flag.dest)
        if raw is None:
            continue
        value = flag.value(raw)
        if flag.path == ("source_id",):
            value = lookup(client, SOURCES, value)["id"]
        elif flag.path == ("destination_id",):
            value = lookup(client, DESTINATIONS, value)["id"]
        put_at(body, flag.path, value)
    return body


def flatten(model: dict[str, Any]) -> dict[str, Any]:
    """`config.url` columns for the table."""
    flat = dict(model)
    for key, value in model.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
    return flat


def data_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data",
        "-d",
        metavar="JSON|@FILE|-",
        default=None,
        help="The body (or part of it) as JSON; flags override its fields.",
    )(func)


def make_group(kind: Kind) -> click.Group:
    noun, plural = kind.singular, kind.plural

    @click.group(plural)
    @examples(
        f"fasthook {plural} list",
        f"fasthook {plural} get {kind.prefix}01H…",
        f"fasthook {plural} create --help",
        doc=f"List, inspect and change {plural} (the /v1/{plural} API).",
    )
    def group() -> None:
        pass

    @group.command("list")
    @click.option("--name", default=None, help=f"Only the {noun} with this name.")
    @click.option(
        "--limit",
        type=click.IntRange(1),
        default=None,
        help="At most this many (default: all, page by page).",
    )
    @output_option
    @pass_session
    @examples(
        f"fasthook {plural} list",
        f"fasthook {plural} list --output json | jq -r .id",
        doc=f"List {plural}, newest first.",
    )
    def list_(session: Session, name: str | None, limit: int | None, output: str) -> None:
        models = session.client().pages(f"/v1/{plural}", {"name": name}, limit)
        show_list((flatten(m) if output == "table" else m for m in models), kind.columns, output)

    @group.command("get")
    @click.argument("ref", metavar="ID|NAME", shell_complete=completer(kind))
    @output_option
    @pass_session
    @examples(
        f"fasthook {plural} get {kind.prefix}01H…",
        f"fasthook {plural} get my-{noun}",
        doc=f"Show one {noun} (by id or name).",
    )
    def get(session: Session, ref: str, output: str) -> None:
        show_one(lookup(session.client(), kind, ref), output)

    def create(session: Session, data: str | None, output: str, **given: Any) -> None:
        client = session.client()
        body = body_from(client, kind, {}, data, given)
        model = client.call("POST", f"/v1/{plural}", json=body)
        note(f"created {noun} {model['id']}")
        show_one(model, output)

    create.__doc__ = f"Create a {noun} from flags and/or --data JSON."

    def update(session: Session, ref: str, data: str | None, output: str, **given: Any) -> None:
        client = session.client()
        current = lookup(client, kind, ref)
        body = body_from(client, kind, editable(current), data, given)
        model = client.call("PUT", f"/v1/{plural}/{current['id']}", json=body)
        note(f"updated {noun} {model['id']}")
        show_one(model, output)

    update.__doc__ = (
        f"Change a {noun}: the flags given replace those fields, the rest stays. "
        "Secrets are write-only: restate --auth when you change an authenticated "
        "config."
    )

    for func, verb, extra in (
        (create, "create", kind.create_example),
        (update, "update", f"fasthook {plural} update {kind.prefix}01H… --description 'new text'"),
    ):
        decorated: Callable[..., Any] = func
        for flag in reversed(kind.flags):
            decorated = flag.decorate(decorated)
        decorated = examples(extra, doc=func.__doc__)(
            output_option(data_option(pass_session(decorated)))
        )
        if verb == "update":
            decorated = click.argument("ref", metavar="ID|NAME", shell_complete=completer(kind))(
                decorated
            )
        group.command(verb)(decorated)

    @group.command("delete")
    @click.argument("ref", metavar="ID|NAME", shell_complete=completer(kind))
    @output_option
    @pass_session
    @examples(
        f"fasthook {plural} delete {kind.prefix}01H…",
        doc=f"Delete a {noun}"
        + (" (and the connections that use it)." if noun != "connection" else "."),
    )
    def delete(session: Session, ref: str, output: str) -> None:
        client = session.client()
        model = lookup(client, kind, ref)
        show_one(client.call("DELETE", f"/v1/{plural}/{model['id']}"), output)
        note(f"deleted {noun} {model['id']}")

    for action in kind.actions:
        group.add_command(action_command(kind, action))
    return group


ACTION_HELP = {
    "disable": "Disable a {noun}: {disabled}",
    "enable": "Enable a {noun} again.",
    "pause": "Pause a connection: new events wait in HOLD until unpause.",
    "unpause": "Unpause a connection: the events held meanwhile are delivered (trigger UNPAUSE).",
}
DISABLED = {
    "source": "its URL answers 410 and records the request as rejected.",
    "destination": "nothing is delivered to it.",
    "connection": "requests are not routed through it.",
}


def action_command(kind: Kind, action: str) -> click.Command:
    @click.command(action)
    @click.argument("ref", metavar="ID|NAME", shell_complete=completer(kind))
    @output_option
    @pass_session
    @examples(
        f"fasthook {kind.plural} {action} {kind.prefix}01H…",
        doc=ACTION_HELP[action].format(noun=kind.singular, disabled=DISABLED[kind.singular]),
    )
    def command(session: Session, ref: str, output: str) -> None:
        client = session.client()
        model = lookup(client, kind, ref)
        show_one(client.call("PUT", f"/v1/{kind.plural}/{model['id']}/{action}"), output)

    return command


COMMANDS = tuple(make_group(kind) for kind in KINDS)
