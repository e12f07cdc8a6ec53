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
from schemas.config_fold import Verdict
from schemas.errors import FastHookError

__all__ = [
    "BadRequest",
    "Conflict",
    "ControlPlaneError",
    "Forbidden",
    "HttpError",
    "NotFound",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "WriteRefused",
]


class ControlPlaneError(FastHookError):
    """Root of the control plane's own (non-HTTP) errors."""


class WriteRefused(Conflict):
    """A config write the fold refused (409): `verdict` says why (schemas.config_fold)."""

    def __init__(self, verdict: Verdict, detail: str) -> None:
        super().__init__(detail)
        self.verdict = verdict
