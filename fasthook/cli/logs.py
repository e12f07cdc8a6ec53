"""`fasthook logs [SERVICE…] [-f] [--json]`: the logs `fasthook run` keeps under its data
directory, merged by time and coloured by service."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from fasthook.cli.app import examples
from fasthook.cli.output import stdout
from fasthook.dashboard import human
from fasthook.logfiles import (
    SERVICES,
    Entry,
    Follower,
    log_dir,
    named_logs,
    read_merged,
    service_of,
)


def emit(entry: Entry, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(entry.as_json(), separators=(",", ":")))
    else:
        stdout().print(human(entry), soft_wrap=True)  # one log line, one line: greppable


def default_data_dir() -> Path:
    from runtime.settings import load_settings

    return Path(load_settings().data_dir)


def known_services(
    ctx: click.Context, param: click.Parameter, names: tuple[str, ...]
) -> tuple[str, ...]:
    """A service, or one of its workers (`router-2`)."""
    for name in names:
        if service_of(name) not in SERVICES:
            raise click.BadParameter(
                f"{name!r} is none of {', '.join(SERVICES)} (nor one's worker, e.g. router-2)"
            )
    return names


@click.command()
@click.argument("services", nargs=-1, callback=known_services, metavar="[SERVICE]...")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (for jq).")
@click.option(
    "--tail",
    "-n",
    type=click.IntRange(0),
    default=None,
    help="Only the last N lines before following.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The data directory of `fasthook run` (default: FASTHOOK_DATA_DIR or .fasthook).",
)
@examples(
    "fasthook logs                      # every service, merged by time",
    "fasthook logs router -f            # follow the router (all its workers)",
    "fasthook logs router-2             # one worker of `fasthook run --workers 2`",
    "fasthook logs api deliverer --json | jq 'select(.level==\"error\")'",
)
def logs(
    services: tuple[str, ...], follow: bool, as_json: bool, tail: int | None, data_dir: Path | None
) -> None:
    """Show the logs `fasthook run` writes for each service (broker, ingress, api, router,
    deliverer, projections, issues, console, and fasthook itself). A service with several
    workers (`fasthook run --workers`) shows all of them (`router-1`, `router-2`, …); name one
    worker to see it alone."""
    data_dir = data_dir or default_data_dir()
    if not log_dir(data_dir).is_dir():
        raise click.UsageError(
            f"no logs under {log_dir(data_dir)}: is this where `fasthook run` ran (see --data-dir)?"
        )
    chosen = named_logs(data_dir, services or SERVICES)
    found = read_merged(data_dir, chosen)
    for entry in found[max(0, len(found) - tail) :] if tail is not None else found:
        emit(entry, as_json)
    if not follow:
        return
    follower = Follower(data_dir, chosen)
    try:
        while True:
            for entry in follower.poll():
                emit(entry, as_json)
            time.sleep(0.25)
    except KeyboardInterrupt:
        return


COMMANDS = (logs,)
