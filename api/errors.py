"""Errors of the control plane."""

from schemas.errors import FastHookError


class ControlPlaneError(FastHookError):
    """Root of the control plane's errors."""


class InvalidDeclaration(ControlPlaneError):
    """A declared entity that cannot be published."""
