"""`fasthook login`, `logout`, `profiles` and `team`: who the CLI talks to, as whom."""

from __future__ import annotations

import sys

import click

from fasthook.cli.app import Session, examples, pass_session
from fasthook.cli.client import Client
from fasthook.cli.output import note, output_option, show_list, show_one
from fasthook.cli.profiles import (
    DEFAULT_PROFILE,
    Profile,
    read_config,
    remove_profile,
    save_profile,
)
from fasthook.errors import FastHookCliError


@click.command()
@click.option(
    "--api",
    "api_url",
    required=True,
    metavar="URL",
    help="The API's base URL, e.g. http://127.0.0.1:8081 (what `fasthook run` prints).",
)
@click.option(
    "--key",
    "api_key",
    envvar="FASTHOOK_API_KEY",
    metavar="fhp_…",
    help="An API key (asked for, hidden, when not given).",
)
@click.option(
    "--team", "team_id", metavar="TEAM_ID", help="The team to act on when the key serves several."
)
@click.option(
    "--profile",
    "name",
    default=None,
    metavar="NAME",
    help="Save under this profile name (default: `default`, or the root --profile).",
)
@pass_session
@examples(
    "fasthook login --api http://127.0.0.1:8081 --key fhp_…",
    "fasthook login --api https://hooks.example.com --profile prod   # asks for the key",
    "fasthook --profile prod sources list",
)
def login(
    session: Session, api_url: str, api_key: str | None, team_id: str | None, name: str | None
) -> None:
    """Check an API URL and key, then save them as a profile (the file is mode 0600).

    Profiles live in ~/.config/fasthook/config.json (or $FASTHOOK_CONFIG); the last login
    becomes the current profile. FASTHOOK_API_URL and FASTHOOK_API_KEY override a profile.
    """
    if not api_key:
        if not sys.stdin.isatty():
            raise click.UsageError("give --key (or FASTHOOK_API_KEY): no terminal to ask on")
        api_key = click.prompt("API key", hide_input=True, err=True)
    profile = Profile(
        name or session.profile_name or DEFAULT_PROFILE,
        api_url.rstrip("/"),
        api_key.strip(),
        team_id,
    )
    with Client(profile) as client:
        team = client.call("GET", "/v1/team")
    save_profile(session.config, profile)
    note(
        f"logged in to {profile.api_url} as team {team['id']} ({team['name']}); "
        f"saved as profile {profile.name!r} in {session.config}"
    )


@click.command()
@click.option(
    "--profile",
    "name",
    default=None,
    metavar="NAME",
    help="The profile to forget (default: the current one).",
)
@pass_session
@examples("fasthook logout --profile prod")
def logout(session: Session, name: str | None) -> None:
    """Forget a profile's URL and key."""
    chosen = name or session.profile_name or read_config(session.config).get("current")
    if not chosen:
        raise FastHookCliError("not logged in")
    remove_profile(session.config, chosen)
    note(f"forgot profile {chosen!r}")


@click.command()
@output_option
@pass_session
@examples("fasthook profiles")
def profiles(session: Session, output: str) -> None:
    """The saved profiles (keys shown by their first characters only)."""
    data = read_config(session.config)
    rows = [
        {
            "name": name,
            "current": name == data.get("current"),
            "api_url": p.get("api_url"),
            "key": (p.get("api_key") or "")[:8] + "…",
            "team_id": p.get("team_id"),
        }
        for name, p in data["profiles"].items()
    ]
    show_list(rows, ("name", "current", "api_url", "key", "team_id"), output)


@click.group(invoke_without_command=True)
@output_option
@pass_session
@click.pass_context
@examples(
    "fasthook team",
    "fasthook team --output json | jq -r .signing_secret.current",
    "fasthook team rotate-secret",
)
def team(ctx: click.Context, session: Session, output: str) -> None:
    """The current team: id, name and the signing secret receivers verify with."""
    if ctx.invoked_subcommand is None:
        show_one(session.client().call("GET", "/v1/team"), output)


@team.command("rotate-secret")
@output_option
@pass_session
@examples("fasthook team rotate-secret")
def rotate_secret(session: Session, output: str) -> None:
    """Rotate the signing secret; the previous one stays valid for a grace period."""
    show_one(session.client().call("POST", "/v1/team/signing-secret/rotate"), output)


COMMANDS = (login, logout, profiles, team)
