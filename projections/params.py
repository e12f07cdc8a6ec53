"""What a list route accepts (validated into models), and its pages (cursors:
`schemas.paging`).

Every model forbids unknown parameters, so a typo'd filter is a 422 naming it instead of a
silently unfiltered list.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from schemas.paging import decode_cursor, page_body
from schemas.providers import MAX_VALUE_CHARS

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_]+$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]
# A provider's event type or delivery id, as the ingress keeps them (schemas.providers).
ProviderValue = Annotated[str, Field(min_length=1, max_length=MAX_VALUE_CHARS)]
Cursor = Annotated[str, Field(max_length=300, pattern=r"^[A-Za-z0-9_-]*$")]
MAX_LIMIT = 250
# RFC 3339 (a space for the T allowed, no offset read as UTC): not pydantic's lax reading,
# which would also take `0` or `1700000000` as a time.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2025-01-01T12:00:00Z")
    return value


Time = Annotated[datetime, BeforeValidator(_rfc3339)]


def _not_bool(value: Any) -> Any:
    # JSON `false` would be read as 0, a count an attempt filter accepts.
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    return value


AttemptCount = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_not_bool)]
# CANCELLED: its connection or destination was disabled or deleted (the deliverer recorded
# why as the last attempt's error code); a retry may still deliver it once they are back.
EventStatus = Literal["QUEUED", "SCHEDULED", "HOLD", "SUCCESSFUL", "FAILED", "CANCELLED"]


def to_ms(value: datetime) -> int:
    if value.tzinfo is None:  # RFC 3339 requires an offset; a bare time is read as UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 100
    next: Cursor | None = None
    prev: Cursor | None = None
    created_gte: Time | None = Field(None, alias="created_at[gte]")
    created_lte: Time | None = Field(None, alias="created_at[lte]")

    @field_validator("next", "prev")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value:
            decode_cursor(value)
        return value or None

    @model_validator(mode="after")
    def _one_cursor(self) -> ListQuery:
        if self.next and self.prev:
            raise ValueError("choose one of next and prev")
        return self

    @property
    def cursor(self) -> tuple[str, str] | None:
        """("lt"|"gt", id) of the page asked for, or None for the first page."""
        value = self.next or self.prev
        return decode_cursor(value) if value else None

    @property
    def created_range_ms(self) -> tuple[int | None, int | None]:
        return (
            to_ms(self.created_gte) if self.created_gte else None,
            to_ms(self.created_lte) if self.created_lte else None,
        )


class RequestQuery(ListQuery):
    source_id: Id | None = None
    status: Literal["accepted", "rejected"] | None = None
    rejection_cause: Id | None = None
    event_type: ProviderValue | None = None
    idempotency_key: ProviderValue | None = None
    # Requests with an ignored event of this cause and/or on this connection (a transformation
    # issue's affected requests).
    ignored_cause: Id | None = None
    ignored_connection_id: Id | None = None
    q: Text | None = None
    include_data: bool = False


class EventQuery(ListQuery):
    source_id: Id | None = None
    connection_id: Id | None = None
    destination_id: Id | None = None
    request_id: Id | None = None
    status: EventStatus | None = None
    response_status: Annotated[int, Field(ge=100, le=599)] | None = None
    error_code: Id | None = None
    attempts_gte: AttemptCount | None = Field(None, alias="attempts[gte]")
    attempts_lte: AttemptCount | None = Field(None, alias="attempts[lte]")
    q: Text | None = None
    include_data: bool = False
    # created_at: newest first by id (the sort key). last_attempt_at: the latest attempt
    # first, never-attempted events last; its cursors carry the attempt time with the id.
    order_by: Literal["created_at", "last_attempt_at"] = "created_at"
    # A live tail's long poll: answer once the projector has written a batch of event facts
    # other than batch number `after_batch` (the `batch` of the previous answer), or after
    # TAIL_WAIT_S without one: new events then arrive as soon as they are stored.
    after_batch: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _cursor_fits_order(self) -> EventQuery:
        cursor = self.cursor
        if cursor is not None and (self.order_by == "last_attempt_at") != (
            last_attempt_key(cursor[1]) is not None
        ):
            raise ValueError("the cursor belongs to another order_by")
        return self


def last_attempt_key(item: str) -> tuple[int, str] | None:
    """A last_attempt_at cursor's (attempt time in ms, -1 for none; event id), else None."""
    ms, _, event_id = item.partition(":")
    if not event_id or not re.fullmatch(r"-1|\d{1,15}", ms):
        return None
    return int(ms), event_id


def event_cursor_item(row: dict[str, Any], order_by: str) -> str:
    """What a page's cursor points at: the id, or for last_attempt_at the sort key too."""
    if order_by == "last_attempt_at":
        ms = row["last_attempt_ms"]
        return f"{-1 if ms is None else int(ms)}:{row['id']}"
    return str(row["id"])


class AttemptQuery(ListQuery):
    event_id: Id | None = None
    include_data: bool = False


class IgnoredQuery(ListQuery):
    request_id: Id | None = None
    connection_id: Id | None = None
    cause: Id | None = None


IssueStatus = Literal["OPENED", "ACKNOWLEDGED", "RESOLVED", "IGNORED"]


class IssueQuery(ListQuery):
    status: IssueStatus | None = None
    type: Literal["delivery", "transformation", "backpressure"] | None = None
    issue_trigger_id: Id | None = None
    connection_id: Id | None = None
    destination_id: Id | None = None


def paginate(
    rows: list[dict[str, Any]],
    query: ListQuery,
    key: Callable[[dict[str, Any]], str] = lambda row: str(row["id"]),
) -> dict[str, Any]:
    """A list body from rows fetched with `limit + 1` in the cursor's direction; `key` is
    what a cursor points at (the id, unless the list is sorted otherwise)."""
    more = len(rows) > query.limit
    page = rows[: query.limit]
    cursor = query.cursor
    if cursor is not None and cursor[0] == "gt":
        page.reverse()  # fetched oldest first to find the newer page; shown newest first
    older = more if cursor is None or cursor[0] == "lt" else bool(page)
    newer = cursor is not None and (more if cursor[0] == "gt" else bool(page))
    return page_body(page, query.limit, older=older, newer=newer, key=key)
