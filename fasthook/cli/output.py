"""How the CLI shows things: data on stdout (a rich table, or JSON: one object per line for
lists), diagnostics on stderr, and the exit codes the contract fixes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

# The contract's exit codes (API.md, "CLI destinations and `fasthook listen`").
OK, API_ERROR, USAGE, NOT_FOUND = 0, 1, 2, 4
FORMATS = ("table", "json")

F = TypeVar("F", bound=Callable[..., Any])


def output_option(func: F) -> F:
    return click.option(
        "--output",
        "-o",
        "output",
        type=click.Choice(FORMATS),
        default="table",
        envvar="FASTHOOK_OUTPUT",
        show_default=True,
        help="table for people; json for scripts (lists: one JSON object per line).",
    )(func)


def stdout() -> Console:
    # Not a terminal (a pipe, a file): no colours, and room enough that no id is cut or folded.
    piped = not sys.stdout.isatty()
    return Console(soft_wrap=piped, width=10_000 if piped else None, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def show_list(models: Iterable[dict[str, Any]], columns: Sequence[str], output: str) -> int:
    """Print a list; JSON is streamed line by line (it pipes into `jq` as it comes)."""
    count = 0
    if output == "json":
        for model in models:
            click.echo(json.dumps(model, separators=(",", ":")))
            count += 1
        return count
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column.upper(), overflow="fold")
    for model in models:
        table.add_row(*(cell(model.get(column)) for column in columns))
        count += 1
    if count:
        stdout().print(table)
    else:
        click.echo("(none)", err=True)
    return count


def show_one(model: dict[str, Any] | None, output: str) -> None:
    if model is None:
        return
    if output == "json":
        click.echo(json.dumps(model, separators=(",", ":")))
        return
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in model.items():
        table.add_row(key, cell(value))
    stdout().print(table)


def note(message: str) -> None:
    """A diagnostic for the person at the terminal (stderr, so data on stdout stays clean)."""
    click.echo(message, err=True)
