"""Errors of the console, under the root exception."""

from __future__ import annotations

from typing import Any

from schemas.errors import FastHookError


class ConsoleError(FastHookError):
    """Root of the console's own errors."""


class ApiError(ConsoleError):
    """The API answered with a problem (4xx/5xx): shown to the user as the API phrased it."""

    def __init__(self, status: int, problem: Any) -> None:
        body = problem if isinstance(problem, dict) else {}
        self.status = status
        self.detail: str = str(body.get("detail") or body.get("title") or f"HTTP {status}")
        # [{path, message}] as the API gives them: forms show each at its field.
        self.errors: list[dict[str, str]] = list(body.get("errors") or [])
        super().__init__(f"API {status}: {self.detail}")


class ApiUnreachable(ConsoleError):
    """The API did not answer at all."""


class SignedOut(ConsoleError):
    """No valid session: the page sends the browser to sign in."""


class CsrfRejected(ConsoleError):
    """A state-changing request without this session's CSRF token, or from another origin."""
