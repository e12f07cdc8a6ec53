"""Errors of the issues job."""

from __future__ import annotations

from schemas.errors import FastHookError


class IssuesError(FastHookError):
    """The issues job cannot go on (its state or its topics are not usable)."""
