"""Errors of the shared runtime."""

from schemas.errors import FastHookError


class RuntimeSetupError(FastHookError):
    """A service cannot start: bad settings, or a broker/engine it needs is not there."""


class SettingsError(RuntimeSetupError):
    """An environment variable has a value FastHook cannot use."""
