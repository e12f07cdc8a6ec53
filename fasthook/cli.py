"""The `fasthook` command."""

from __future__ import annotations

import argparse
import asyncio
import sys

from api.admin import admin_session, create_analyst
from fasthook.stack import analyst_url, prepare_data_dir, run_stack
from runtime.kafka import ensure_topics
from runtime.logs import configure_logging
from runtime.secrets import generate_key
from runtime.settings import Settings, load_settings
from schemas.errors import FastHookError


async def teams(settings: Settings, args: argparse.Namespace) -> None:
    async with admin_session(settings) as admin:
        if args.action == "create":
            team = await admin.create_team(args.name)
            print(f"{team['id']}  {team['name']}")
        else:
            for team in admin.view.all("team"):
                print(f"{team['id']}  {team['name']}")


async def keys(settings: Settings, args: argparse.Namespace) -> None:
    async with admin_session(settings) as admin:
        if args.action == "create":
            key, entity = await admin.create_key(args.name, args.team)
            print(f"{entity['id']}  {key}")
            print("The key is shown once; FastHook keeps only its hash.", file=sys.stderr)
        elif args.action == "revoke":
            entity = await admin.revoke_key(args.key_id)
            print(f"{entity['id']}  revoked at {entity['revoked_at']}")
        else:
            for entity in admin.view.all("api_key"):
                state = f"revoked {entity['revoked_at']}" if entity["revoked_at"] else "active"
                print(f"{entity['id']}  {entity['hint']}  {entity['name']}  "
                      f"teams={','.join(entity['team_ids'])}  {state}")


async def analysts(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "create":
        password, entity = await create_analyst(settings, args.name, args.team)
        print(f"{entity['id']}  {entity['name']}  {password}  "
              f"{analyst_url(settings, entity['name'], password)}")
        print("The password is shown once; FastHook keeps only its hash.", file=sys.stderr)
        return
    async with admin_session(settings) as admin:
        if args.action == "revoke":
            entity = await admin.revoke_analyst(args.name)
            print(f"{entity['id']}  {entity['name']}  revoked at {entity['revoked_at']}")
        else:
            for entity in admin.view.all("analyst"):
                state = f"revoked {entity['revoked_at']}" if entity["revoked_at"] else "active"
                print(f"{entity['id']}  {entity['name']}  team={entity['team_id'] or '*'}  "
                      f"{state}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="fasthook", description="FastHook webhook gateway")
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole gateway (embedded broker by default)")
    run.add_argument("--kafka-port", type=int, default=19092,
                     help="port of the embedded broker (ignored with FASTHOOK_KAFKA_BOOTSTRAP)")
    commands.add_parser("topics", help="create every topic of the catalog that is missing")
    commands.add_parser("listen", help="forward a source's events to a local server "
                        "(fasthook listen --help)", add_help=False)
    commands.add_parser("secret-key", help="print a new FASTHOOK_SECRET_KEY")
    team = commands.add_parser("teams", help="create or list teams")
    team_actions = team.add_subparsers(dest="action", required=True)
    team_actions.add_parser("create").add_argument("name")
    team_actions.add_parser("list")
    key = commands.add_parser("keys", help="create, list or revoke API keys")
    key_actions = key.add_subparsers(dest="action", required=True)
    create = key_actions.add_parser("create")
    create.add_argument("--team", action="append", required=True, help="team id (repeatable)")
    create.add_argument("--name", default="cli")
    key_actions.add_parser("list")
    key_actions.add_parser("revoke").add_argument("key_id")
    analyst = commands.add_parser(
        "analysts", help="create, list or revoke read-only ClickHouse credentials")
    analyst_actions = analyst.add_subparsers(dest="action", required=True)
    create_analyst_cmd = analyst_actions.add_parser("create")
    create_analyst_cmd.add_argument("name", help="the ClickHouse user name")
    create_analyst_cmd.add_argument("--team", help="see only this team's rows (tm_…)")
    analyst_actions.add_parser("list")
    analyst_actions.add_parser("revoke").add_argument("name")
    return root


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["listen"]:
        # A Click command: it parses its own arguments (the tree is becoming Click's).
        from fasthook.listen.command import main as listen

        return listen(given[1:])
    args = parser().parse_args(argv)
    settings = load_settings()
    configure_logging("fasthook", settings.log_level, settings.log_format)
    try:
        if args.command == "run":
            data_dir = prepare_data_dir(settings)
            asyncio.run(run_stack(settings, data_dir, embedded_kafka_port=args.kafka_port))
        elif args.command == "topics":
            created = asyncio.run(ensure_topics(
                settings.kafka_bootstrap, settings.topics, replication=settings.topic_replication
            ))
            print("created:", ", ".join(created) or "nothing (all exist)")
        elif args.command == "secret-key":
            print(generate_key())
        elif args.command == "teams":
            asyncio.run(teams(settings, args))
        elif args.command == "keys":
            asyncio.run(keys(settings, args))
        elif args.command == "analysts":
            asyncio.run(analysts(settings, args))
    except FastHookError as exc:  # setup problems and refused operations: one clear line
        print(f"fasthook: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
