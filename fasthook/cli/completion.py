"""`fasthook completion SHELL`: Click's own shell completion, as a script to source."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

from fasthook.cli.app import examples

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@examples(
    'eval "$(fasthook completion bash)"          # in ~/.bashrc',
    "fasthook completion zsh > ~/.zfunc/_fasthook",
    "fasthook completion fish > ~/.config/fish/completions/fasthook.fish",
)
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish."""
    from fasthook.cli.app import cli

    shell_class = get_completion_class(shell)
    assert shell_class is not None  # every name in SHELLS is one of Click's
    click.echo(shell_class(cli, {}, "fasthook", "_FASTHOOK_COMPLETE").source())


COMMANDS = (completion,)
