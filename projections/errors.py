"""Errors of the projections service (HTTP errors are the shared ones in runtime.problems)."""

from __future__ import annotations

from schemas.errors import FastHookError


class ProjectionsError(FastHookError):
    """Root of the projections service's errors."""


class EngineError(ProjectionsError):
    """ClickHouse (server or embedded chdb) could not be opened or refused a statement."""


class MigrationError(ProjectionsError):
    """The schema could not be brought to the current version."""
