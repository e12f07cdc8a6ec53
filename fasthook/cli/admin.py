"""The operator's commands: `run`, `topics`, `secret-key`, `teams`, `keys`, `analysts`.

They talk to the broker directly (the config topic), not to the API: they are how the first
team and key come to exist. Their heavy imports (Kafka clients, the API's admin) happen when
one runs, so the gateway verbs start fast.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import click
from click.decorators import FC

from fasthook.cli.app import examples
from fasthook.cli.output import note
from runtime.settings import Settings, load_settings


def admin_settings() -> Settings:
    from runtime.logs import configure_logging

    settings = load_settings()
    configure_logging("fasthook", settings.log_level, settings.log_format)
    return settings


def worker_count(service: str, what: str) -> Callable[[FC], FC]:
    """`--<service>-workers N`: one service's process count, over --workers."""
    return click.option(
        f"--{service}-workers",
        type=click.IntRange(1),
        default=None,
        metavar="N",
        help=f"{what}, over --workers (default: FASTHOOK_{service.upper()}_WORKERS).",
    )


@click.command()
@click.option(
    "--kafka-port",
    type=int,
    default=19092,
    show_default=True,
    help="Port of the embedded broker (ignored with FASTHOOK_KAFKA_BOOTSTRAP).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Every service's full log on the terminal too (as FASTHOOK_LOG_FORMAT does).",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    metavar="N",
    help="Processes each of ingress, router and deliverer runs (default: FASTHOOK_WORKERS, "
    "else 1). Ingress processes share the public port (SO_REUSEPORT), each with its own "
    "metrics port (+100 per worker); router and deliverer workers share their consumer "
    "groups (8 partitions per topic: workers beyond 8 idle).",
)
@worker_count("ingress", "Ingress processes")
@worker_count("router", "Router workers")
@worker_count("deliverer", "Deliverer workers")
@examples(
    "fasthook run                        # embedded broker and ClickHouse under .fasthook/",
    "fasthook run --verbose              # and every service's log on the terminal",
    "fasthook run --workers 2            # two ingress, router and deliverer processes each",
    "fasthook run --router-workers 4     # four routers, one of everything else",
    "FASTHOOK_KAFKA_BOOTSTRAP=kafka:9092 fasthook run   # your own Kafka cluster",
    "fasthook logs router -f             # in another terminal: follow one service",
)
def run(
    kafka_port: int,
    verbose: bool,
    workers: int | None,
    ingress_workers: int | None,
    router_workers: int | None,
    deliverer_workers: int | None,
) -> None:
    """Run the whole gateway on this machine, supervised.

    The terminal is a dashboard: the banner (URLs, API key), one line per service state
    change, and warnings that need you. Each service's log goes to a file under the data
    directory (`fasthook logs` reads them; `router-2.log` and so on with several workers,
    each supervised and restarted on its own). Ctrl-C stops everything.
    """
    from fasthook.stack import prepare_data_dir, run_stack
    from fasthook.workers import with_counts

    settings = with_counts(
        load_settings(), workers, ingress_workers, router_workers, deliverer_workers
    )
    verbose = verbose or "FASTHOOK_LOG_FORMAT" in os.environ
    data_dir = prepare_data_dir(settings)
    asyncio.run(run_stack(settings, data_dir, embedded_kafka_port=kafka_port, verbose=verbose))


@click.command()
@examples("FASTHOOK_KAFKA_BOOTSTRAP=kafka:9092 fasthook topics")
def topics() -> None:
    """Create every topic of the catalog that is missing (with its partitions and config)."""
    from runtime.kafka import ensure_topics

    settings = admin_settings()
    created = asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap, settings.topics, replication=settings.topic_replication
        )
    )
    click.echo("created: " + (", ".join(created) or "nothing (all exist)"))


@click.group("secret-key", invoke_without_command=True)
@examples(
    "export FASTHOOK_SECRET_KEY=$(fasthook secret-key)",
    'FASTHOOK_SECRET_KEY="$NEW,$OLD" fasthook secret-key reseal',
)
@click.pass_context
def secret_key(ctx: click.Context) -> None:
    """Print a new FASTHOOK_SECRET_KEY (seals secrets at rest, signs service hops).

    FASTHOOK_SECRET_KEY may hold several keys, comma-separated, newest first: the newest seals,
    every one opens. Rotating without downtime: docs/operations.md.
    """
    if ctx.invoked_subcommand is None:
        from runtime.secrets import generate_key

        click.echo(generate_key())


@secret_key.command("reseal")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 while any secret is still sealed by an older key.",
)
@examples(
    'FASTHOOK_SECRET_KEY="$NEW,$OLD" fasthook secret-key reseal',
    'FASTHOOK_SECRET_KEY="$NEW,$OLD" fasthook secret-key reseal --check',
)
def secret_key_reseal(check: bool) -> None:
    """Seal again, with the newest key, every secret on the config topic that an older key of
    FASTHOOK_SECRET_KEY sealed; then the older keys can be removed."""
    from api.admin import admin_session
    from runtime.errors import SettingsError

    async def go() -> dict[str, int]:
        async with admin_session(admin_settings()) as admin:
            return await admin.reseal(dry_run=check)

    try:
        counts = asyncio.run(go())
    except SettingsError as exc:
        raise click.ClickException(f"{exc}: nothing was rewritten") from None
    done = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
    if check:
        click.echo(f"sealed by an older key: {done}")
        if counts:
            raise SystemExit(1)
    else:
        click.echo(f"resealed: {done}")


@click.group()
@examples("fasthook teams create acme", "fasthook teams list")
def teams() -> None:
    """Create or list teams (straight on the config topic: operators only)."""


@teams.command("create")
@click.argument("name")
@examples("fasthook teams create acme")
def teams_create(name: str) -> None:
    """Create a team; prints its id and name."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            team = await admin.create_team(name)
        click.echo(f"{team['id']}  {team['name']}")

    asyncio.run(go())


@teams.command("list")
@examples("fasthook teams list")
def teams_list() -> None:
    """Every team: id and name."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            for team in admin.view.all("team"):
                click.echo(f"{team['id']}  {team['name']}")

    asyncio.run(go())


@click.group()
@examples("fasthook keys create --team tm_01H… --name deploy", "fasthook keys list")
def keys() -> None:
    """Create, list or revoke API keys (straight on the config topic: operators only)."""


@keys.command("create")
@click.option(
    "--team",
    "team_ids",
    multiple=True,
    required=True,
    metavar="TEAM_ID",
    help="Team the key serves (repeatable).",
)
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
@examples("fasthook keys create --team tm_01H… --name deploy")
def keys_create(team_ids: tuple[str, ...], name: str) -> None:
    """Create an API key; prints its id and the key itself (shown once)."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            key, entity = await admin.create_key(name, list(team_ids))
        click.echo(f"{entity['id']}  {key}")
        note("The key is shown once; FastHook keeps only its hash.")

    asyncio.run(go())


@keys.command("list")
@examples("fasthook keys list")
def keys_list() -> None:
    """Every key: id, hint, name, teams, state (never the key itself)."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            for entity in admin.view.all("api_key"):
                state = f"revoked {entity['revoked_at']}" if entity["revoked_at"] else "active"
                click.echo(
                    f"{entity['id']}  {entity['hint']}  {entity['name']}  "
                    f"teams={','.join(entity['team_ids'])}  {state}"
                )

    asyncio.run(go())


@keys.command("revoke")
@click.argument("key_id")
@examples("fasthook keys revoke key_01H…")
def keys_revoke(key_id: str) -> None:
    """Revoke a key: every service refuses it from then on."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            entity = await admin.revoke_key(key_id)
        click.echo(f"{entity['id']}  revoked at {entity['revoked_at']}")

    asyncio.run(go())


@click.group()
@examples("fasthook analysts create ana --team tm_01H…", "fasthook analysts list")
def analysts() -> None:
    """Create, list or revoke read-only ClickHouse credentials (docs/analysts.md)."""


@analysts.command("create")
@click.argument("name")
@click.option(
    "--team",
    "team_id",
    default=None,
    metavar="TEAM_ID",
    help="See only this team's rows (tm_…); every team's when not given.",
)
@examples(
    "fasthook analysts create ana --team tm_01H…",
    "clickhouse client --host … --user ana --password …",
)
def analysts_create(name: str, team_id: str | None) -> None:
    """Create an analyst (the ClickHouse user NAME); prints its id, name, password (shown
    once) and a ready URL."""
    from api.admin import create_analyst
    from fasthook.stack import analyst_url

    settings = admin_settings()
    password, entity = asyncio.run(create_analyst(settings, name, team_id))
    click.echo(
        f"{entity['id']}  {entity['name']}  {password}  "
        f"{analyst_url(settings, entity['name'], password)}"
    )
    note("The password is shown once; FastHook keeps only its hash.")


@analysts.command("list")
@examples("fasthook analysts list")
def analysts_list() -> None:
    """Every analyst: id, name, team scope (`*`: all), state."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            for entity in admin.view.all("analyst"):
                state = f"revoked {entity['revoked_at']}" if entity["revoked_at"] else "active"
                click.echo(
                    f"{entity['id']}  {entity['name']}  team={entity['team_id'] or '*'}  {state}"
                )

    asyncio.run(go())


@analysts.command("revoke")
@click.argument("name")
@examples("fasthook analysts revoke ana")
def analysts_revoke(name: str) -> None:
    """Revoke an analyst: the endpoint refuses its password from then on."""
    from api.admin import admin_session

    async def go() -> None:
        async with admin_session(admin_settings()) as admin:
            entity = await admin.revoke_analyst(name)
        click.echo(f"{entity['id']}  {entity['name']}  revoked at {entity['revoked_at']}")

    asyncio.run(go())


COMMANDS = (run, topics, secret_key, teams, keys, analysts)
