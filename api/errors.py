"""Errors of the control plane. An `ApiError` is rendered as application/problem+json."""

from __future__ import annotations

from schemas.errors import FastHookError


class ControlPlaneError(FastHookError):
    """Root of the control plane's errors."""


class ApiError(ControlPlaneError):
    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str | None = None,
                 errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []


class BadRequest(ApiError):
    status, title = 400, "Bad Request"


class Unauthorized(ApiError):
    status, title = 401, "Unauthorized"


class Forbidden(ApiError):
    status, title = 403, "Forbidden"


class NotFound(ApiError):
    status, title = 404, "Not Found"


class Conflict(ApiError):
    status, title = 409, "Conflict"


class Unprocessable(ApiError):
    status, title = 422, "Unprocessable Entity"


class Unavailable(ApiError):
    status, title = 503, "Service Unavailable"
