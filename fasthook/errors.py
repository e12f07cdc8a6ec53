"""Errors of the launcher."""

from runtime.errors import RuntimeSetupError
from schemas.errors import FastHookError


class EmbeddedStackError(RuntimeSetupError):
    """The embedded broker or ClickHouse engine could not start."""


class FastHookCliError(FastHookError):
    """A `fasthook` command could not do what was asked; `exit_code` says how it ends."""

    exit_code = 1
