"""Errors of the ingress service."""

from schemas.errors import FastHookError


class IngressError(FastHookError):
    """Root of the ingress service's errors."""


class InvalidSourceConfig(IngressError):
    """A source entity on the config topic that the ingress cannot serve."""
