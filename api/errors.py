"""Errors of the control plane. HTTP errors are the shared problem+json ones."""

from __future__ import annotations

from runtime.problems import (
    BadRequest,
    Conflict,
    Forbidden,
    HttpError,
    NotFound,
    Unauthorized,
    Unavailable,
    Unprocessable,
)
from schemas.errors import FastHookError

__all__ = [
    "BadRequest", "Conflict", "ControlPlaneError", "Forbidden", "HttpError", "NotFound",
    "Unauthorized", "Unavailable", "Unprocessable",
]


class ControlPlaneError(FastHookError):
    """Root of the control plane's own (non-HTTP) errors."""
