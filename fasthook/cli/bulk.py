"""`fasthook bulk retry events|requests`: the plan's count first, a progress bar until the job
is done, and Ctrl-C cancels the job (not just the command watching it)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from fasthook.cli.app import Failure, Session, examples, pass_session
from fasthook.cli.client import ApiError, Client
from fasthook.cli.output import note, output_option, show_one, stderr
from fasthook.cli.traffic import filter_option, filter_pairs

KINDS = ("events", "requests")
DONE = ("COMPLETED", "CANCELLED", "FAILED")
INTERRUPTED = 130  # the shell's code for "stopped by Ctrl-C"
POLL_S = 0.5


@click.group()
@examples(
    "fasthook bulk retry events --filter status=FAILED --yes", "fasthook bulk get events blk_01H…"
)
def bulk() -> None:
    """Retry many events, or replay many requests, as one durable job."""


def job_path(kind: str, job_id: str | None = None) -> str:
    return f"/v1/bulk/{kind}/retry" + (f"/{job_id}" if job_id else "")


def coerce(query: dict[str, str]) -> dict[str, Any]:
    """`--filter` values as JSON would have them (the bulk body is JSON, not a query string)."""
    typed: dict[str, Any] = {}
    for key, value in query.items():
        if value.lower() in ("true", "false"):
            typed[key] = value.lower() == "true"
        elif value.isdigit():
            typed[key] = int(value)
        else:
            typed[key] = value
    return typed


def watch(client: Client, kind: str, job: dict[str, Any]) -> dict[str, Any]:
    """Poll the job until it is done, drawing progress on stderr; Ctrl-C cancels it."""
    total = max(job["estimated_count"], 1)
    try:
        if sys.stderr.isatty():
            return _watch_bar(client, kind, job, total)
        return _watch_lines(client, kind, job, total)
    except KeyboardInterrupt:
        note(f"\ncancelling bulk retry {job['id']}…")
        try:
            job = client.call("POST", job_path(kind, job["id"]) + "/cancel")
        except ApiError as exc:
            if exc.status != 409:  # 409: it completed meanwhile, nothing to cancel
                raise
            job = client.call("GET", job_path(kind, job["id"]))
        note(
            f"bulk retry {job['id']} {job['status'].lower()} after "
            f"{job['processed_count']} of {job['estimated_count']}"
        )
        return job


def _watch_bar(client: Client, kind: str, job: dict[str, Any], total: int) -> dict[str, Any]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr(), transient=False) as progress:
        task = progress.add_task(f"retrying {kind}", total=total)
        while job["status"] not in DONE:
            time.sleep(POLL_S)
            job = client.call("GET", job_path(kind, job["id"]))
            progress.update(
                task,
                completed=job["processed_count"],
                total=max(total, job["estimated_count"], job["processed_count"]),
            )
    return job


def _watch_lines(client: Client, kind: str, job: dict[str, Any], total: int) -> dict[str, Any]:
    """Not a terminal (a log, a CI job): one progress line whenever the count moves."""
    shown = -1
    while True:
        if job["processed_count"] != shown:
            shown = job["processed_count"]
            note(
                f"bulk retry {job['id']}: {shown}/{job['estimated_count']} {kind} "
                f"({job['status'].lower()})"
            )
        if job["status"] in DONE:
            return job
        time.sleep(POLL_S)
        job = client.call("GET", job_path(kind, job["id"]))


@bulk.command("retry")
@click.argument("kind", type=click.Choice(KINDS))
@filter_option
@click.option("--yes", "-y", is_flag=True, help="Start without asking.")
@output_option
@pass_session
@examples(
    "fasthook bulk retry events --filter status=FAILED --filter destination_id=des_01H… --yes",
    "fasthook bulk retry requests --filter source_id=src_01H… "
    "--filter 'created_at[gte]=2025-01-01T00:00:00Z'",
)
def retry(session: Session, kind: str, pairs: tuple[str, ...], yes: bool, output: str) -> None:
    """Retry every event (or replay every request) a list filter matches.

    Shows how many match, asks (unless --yes), then follows the job with a progress bar on
    stderr until it completes. Ctrl-C cancels the job through the API and exits with 130.
    The filters are the list route's (`fasthook events list --help`), by their API names.
    """
    client = session.client()
    query = coerce(filter_pairs(pairs))
    if not query:
        raise click.UsageError(
            "give at least one --filter (a bulk retry of everything is never what you meant)"
        )
    plan = client.call("POST", job_path(kind) + "/plan", json={"query": query})
    count = plan["estimated_count"]
    note(f"{count} {kind} match {' '.join(pairs)}")
    if count == 0:
        return
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError("not a terminal to ask on: add --yes to start the job")
        click.confirm(f"Retry {count} {kind}?", abort=True, err=True)
    job = client.call("POST", job_path(kind), json={"query": query})
    note(f"started bulk retry {job['id']}")
    job = watch(client, kind, job)
    show_one(job, output)
    if job["status"] == "CANCELLED":
        raise click.exceptions.Exit(INTERRUPTED)
    if job["status"] != "COMPLETED":
        raise Failure(f"bulk retry {job['id']} ended {job['status']}")


@bulk.command("get")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("job_id", metavar="ID")
@output_option
@pass_session
@examples("fasthook bulk get events blk_01H…")
def get(session: Session, kind: str, job_id: str, output: str) -> None:
    """A bulk job's progress: status, estimated and processed counts."""
    show_one(session.client().call("GET", job_path(kind, job_id)), output)


@bulk.command("cancel")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("job_id", metavar="ID")
@output_option
@pass_session
@examples("fasthook bulk cancel events blk_01H…")
def cancel(session: Session, kind: str, job_id: str, output: str) -> None:
    """Stop a running bulk job (what it already retried stays retried)."""
    show_one(session.client().call("POST", job_path(kind, job_id) + "/cancel"), output)


COMMANDS = (bulk,)
