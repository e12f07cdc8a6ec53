"""The root `fasthook` group: global options, the session every verb shares, and how a
failure becomes one line on stderr and the contract's exit code."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click

from fasthook.cli.client import ApiError, Client, Unreachable
from fasthook.cli.output import API_ERROR, NOT_FOUND
from fasthook.cli.profiles import Profile, config_path, resolve
from schemas.errors import FastHookError

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Failure(click.ClickException):
    """A command failed for a reason the user can act on: one line, a meaningful exit code."""

    def __init__(self, message: str, exit_code: int = API_ERROR) -> None:
        super().__init__(message)
        # click declares exit_code on the class (a ClassVar); click reads it off the instance.
        vars(self)["exit_code"] = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"fasthook: {self.format_message()}", err=True)


class Root(click.Group):
    """The root group: turns failures into one line and an exit code, and loads the commands
    with heavy imports (`listen`: aiohttp, websockets) only when they run or are listed."""

    LAZY = {"listen": "fasthook.listen.command:listen"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY:
            module, _, name = self.LAZY[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
        except ApiError as exc:
            raise Failure(str(exc), NOT_FOUND if exc.status == 404 else API_ERROR) from None
        except (Unreachable, FastHookError) as exc:
            raise Failure(str(exc), getattr(exc, "exit_code", API_ERROR)) from None
        if isinstance(result, int) and result:  # a command that ends with its own exit code
            ctx.exit(result)
        return result


@dataclass
class Session:
    """What the verbs share: which profile, and the API client made from it on first use."""

    profile_name: str | None
    config: Path
    _client: Client | None = field(default=None, repr=False)

    def profile(self) -> Profile:
        return resolve(self.config, self.profile_name)

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.profile())
            click.get_current_context().call_on_close(self._client.http.close)
        return self._client


pass_session = click.make_pass_decorator(Session)


def examples(*lines: str, doc: str | None = None) -> Callable[[F], F]:
    """Append an Examples section to a command's help (and so to docs/cli.md); `doc` is the
    help text itself when the function cannot carry it (commands made by a factory)."""

    def decorate(func: F) -> F:
        text = "\n".join(f"  {line}" for line in lines)
        body = inspect.cleandoc(doc or func.__doc__ or "")
        func.__doc__ = f"{body}\n\n\b\nExamples:\n{text}\n"
        return func

    return decorate


@click.group(cls=Root, context_settings=CONTEXT)
@click.option(
    "--profile",
    "-p",
    envvar="FASTHOOK_PROFILE",
    metavar="NAME",
    help="Profile written by `fasthook login` (default: the current one).",
)
@click.version_option(package_name="fasthook", message="fasthook %(version)s")
@click.pass_context
@examples(
    "fasthook run                              # the whole gateway on this machine",
    "fasthook login --api http://127.0.0.1:8081 --key fhp_…",
    "fasthook sources list",
    "fasthook events list --status FAILED --output json | jq .id",
    "fasthook bulk retry events --filter status=FAILED --yes",
)
def cli(ctx: click.Context, profile: str | None) -> None:
    """FastHook: a self-hosted, durable webhook gateway.

    Gateway verbs talk to the public /v1 API (found from `fasthook login`, or
    FASTHOOK_API_URL and FASTHOOK_API_KEY). Data goes to stdout, diagnostics to stderr.
    Exit codes: 0 ok, 1 API or server error, 2 usage, 4 not found.
    """
    ctx.obj = Session(profile, config_path())
