"""Errors of the launcher."""

from runtime.errors import RuntimeSetupError


class EmbeddedStackError(RuntimeSetupError):
    """The embedded broker or ClickHouse engine could not start."""
