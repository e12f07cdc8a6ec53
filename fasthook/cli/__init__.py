"""The `fasthook` command: the operator's commands, and every gateway verb as a client of /v1.

One module per command family; `app.cli` is the root group they are added to.
"""

from __future__ import annotations

import click

from fasthook.cli import admin, bulk, completion, login, logs, resources, traffic
from fasthook.cli.app import cli

for family in (admin, resources, traffic, bulk, login, logs, completion):
    for command in family.COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """The console script: exits with the contract's codes (0, 1, 2, 4)."""
    return cli.main(args=argv, prog_name="fasthook")


__all__ = ["cli", "click", "main"]
