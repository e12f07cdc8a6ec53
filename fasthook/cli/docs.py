"""`python -m fasthook.cli.docs > docs/cli.md`: the CLI reference, generated from the command
definitions themselves (a test checks the committed file equals this output)."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click

from fasthook.cli import cli

WIDTH = 100  # fixed, so the file does not depend on the terminal that generated it
HEADER = """# `fasthook` command reference

Generated from the command definitions by `python -m fasthook.cli.docs > docs/cli.md`
(`tests/fasthook/test_cli_docs.py` fails when this file is stale). Every command also answers
`--help`.

Gateway verbs talk to the public `/v1` API found from `fasthook login` (profiles in
`~/.config/fasthook/config.json`, mode 0600) or `FASTHOOK_API_URL` / `FASTHOOK_API_KEY`
(`FASTHOOK_TEAM_ID` picks the team of a key serving several). Data goes to stdout (`--output
json`: one JSON object per line for lists, so it pipes into `jq`), diagnostics and progress to
stderr. Exit codes: 0 ok, 1 API or server error, 2 usage, 4 not found (130: a bulk retry
cancelled with Ctrl-C).

Shell completion: `eval "$(fasthook completion bash)"` (or `zsh`, `fish`).
"""


def walk(
    command: click.Command, parent: click.Context | None, name: str
) -> Iterator[tuple[str, str]]:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx.command_path, command.get_help(ctx)
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            child = command.get_command(ctx, sub)
            if child is not None and not child.hidden:
                yield from walk(child, ctx, sub)


def reference() -> str:
    parts = [HEADER]
    for path, text in walk(cli, None, "fasthook"):
        parts.append(f"## `{path}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(reference())
