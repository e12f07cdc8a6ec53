"""Errors of the projections service. An `HttpError` is rendered as application/problem+json."""

from __future__ import annotations

from schemas.errors import FastHookError


class ProjectionsError(FastHookError):
    """Root of the projections service's errors."""


class EngineError(ProjectionsError):
    """ClickHouse (server or embedded chdb) could not be opened or refused a statement."""


class MigrationError(ProjectionsError):
    """The schema could not be brought to the current version."""


class HttpError(ProjectionsError):
    status = 500
    title = "Internal Server Error"

    def __init__(self, detail: str | None = None,
                 errors: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = errors or []


class Unauthorized(HttpError):
    status, title = 401, "Unauthorized"


class NotFound(HttpError):
    status, title = 404, "Not Found"


class Conflict(HttpError):
    status, title = 409, "Conflict"


class Unprocessable(HttpError):
    status, title = 422, "Unprocessable Entity"


class BadRequest(HttpError):
    status, title = 400, "Bad Request"


class Unavailable(HttpError):
    status, title = 503, "Service Unavailable"
