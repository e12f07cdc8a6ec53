"""Errors of the launcher."""

from runtime.errors import RuntimeSetupError
from schemas.errors import FastHookError


class EmbeddedStackError(RuntimeSetupError):
    """The embedded broker or ClickHouse engine could not start."""


class CliError(FastHookError):
    """A CLI command cannot go on: one line for the terminal."""
