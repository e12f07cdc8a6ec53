"""What the query, retry and bulk routes answer, as models: only for the OpenAPI document (the
handlers build the same shapes in `projections.mappers` and `Job.model`), so schemathesis can
hold every answer to it. Every model forbids unknown fields: a field the handlers add without
describing it here is a failed check, not a silent drift."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from projections.params import EventStatus, IssueStatus

T = TypeVar("T")


class Described(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Data(Described):
    """A request as people read it: `body` is JSON's value, a form's fields, or text."""

    method: str
    path: str
    query: str
    parsed_query: dict[str, str | list[str]]
    headers: dict[str, str]
    body: Any


class Verification(Described):
    method: str
    verified: bool
    detail: str | None


class Request(Described):
    id: str
    source_id: str
    status: Literal["accepted", "rejected"]
    rejection_cause: str | None
    verification: Verification
    replay_of: str | None
    event_type: str | None  # the provider's, where it names one (X-GitHub-Event, Stripe's type)
    idempotency_key: str | None  # the provider's delivery id (X-GitHub-Delivery, webhook-id)
    created_at: datetime
    events_count: int
    ignored_count: int
    data: Data | None = None  # with include_data, and on GET /v1/requests/{id}


class Event(Described):
    id: str
    request_id: str
    source_id: str
    connection_id: str
    destination_id: str
    status: EventStatus
    attempts: int
    response_status: int | None
    error_code: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    successful_at: datetime | None
    created_at: datetime
    data: Data | None = None  # with include_data (null: the request is no longer stored)


class Attempt(Described):
    id: str
    event_id: str
    attempt_number: int
    trigger: str
    status: Literal["SUCCESSFUL", "FAILED"]
    requested_url: str
    http_method: str
    response_status: int | None
    response_latency_ms: int | None
    error_code: str | None
    created_at: datetime
    body: str | None = None  # the response body (truncated), with include_data
    # the destination's response headers as received (names kept), with include_data
    response_headers: dict[str, str] | None = None


class IgnoredEvent(Described):
    id: str
    request_id: str
    source_id: str
    connection_id: str | None
    cause: str
    detail: str | None
    created_at: datetime


class Cursors(Described):
    """A page's `pagination` (named apart from the API's own `Pagination` model)."""

    limit: int
    next: str | None
    prev: str | None


class Page(Described, Generic[T]):
    models: list[T]
    pagination: Cursors
    count: int


class RequestRetried(Described):
    request_id: str
    replay_of: str
    connection_ids: list[str] | None


class EventRetried(Described):
    event_id: str
    attempt_number: int
    trigger: Literal["MANUAL"]
    status: Literal["QUEUED"]


class BulkJob(Described):
    id: str
    status: Literal["QUEUED", "RUNNING", "COMPLETED", "CANCELLED"]
    kind: Literal["events", "requests"]
    query: dict[str, Any]
    estimated_count: int
    processed_count: int
    skipped_count: int
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    connection_ids: list[str] | None = Field(
        None, description="requests: replayed to these connections only (null: every one)"
    )


class BulkJobList(Described):
    models: list[BulkJob]
    count: int


class BulkPlan(Described):
    estimated_count: int


class AggregationKeys(Described):
    response_status: int | None = None
    error_code: str | None = None


class Issue(Described):
    id: str
    team_id: str
    type: Literal["delivery", "transformation", "backpressure"]
    status: IssueStatus
    issue_trigger_id: str
    connection_id: str | None
    destination_id: str | None
    source_id: str | None
    aggregation_keys: AggregationKeys
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    opened_at: datetime
    resolved_at: datetime | None
    updated_at: datetime
    sample_event_ids: list[str]
    sample_request_ids: list[str]
    detail: str | None
    paused_at: datetime | None
    events_query: dict[str, Any] | None  # the events it counted still FAILED (what replay takes)
    # a transformation issue: the requests whose transformation failed (what replay takes)
    requests_query: dict[str, Any] | None


class IssuePage(Page[Issue]):
    pass


class TimelineEntry(Described):
    kind: str = Field(
        description="opened | counted | escalated | acknowledged | ignored | reopened | resolved"
    )
    status: IssueStatus = Field(description="the issue's status after this change")
    count: int = Field(description="the issue's count after this change")
    actor: Literal["job", "api"]
    at: datetime
    version: int


class IssueTimeline(Described):
    id: str
    models: list[TimelineEntry]
    count: int


class RequestPage(Page[Request]):
    pass


class EventPage(Page[Event]):
    batch: int = Field(
        description=(
            "How many batches of event facts this query service has written since it started: "
            "pass it back as `after_batch` to wait for the next one (a live tail)"
        )
    )


class AttemptPage(Page[Attempt]):
    pass


class IgnoredEventPage(Page[IgnoredEvent]):
    pass


class RequestSeries(Described):
    accepted: list[int]
    rejected: list[int]


class EventSeries(Described):
    QUEUED: list[int]
    SCHEDULED: list[int]
    HOLD: list[int]
    SUCCESSFUL: list[int]
    FAILED: list[int]
    CANCELLED: list[int]


class AttemptSeries(Described):
    # JSON names that are not Python names: the schema (built by alias) shows these.
    class_2xx: list[int] = Field(alias="2xx")
    class_3xx: list[int] = Field(alias="3xx")
    class_4xx: list[int] = Field(alias="4xx")
    class_5xx: list[int] = Field(alias="5xx")
    no_response: list[int]
    latency_p50_ms: list[float | None]
    latency_p99_ms: list[float | None]


class DestinationHealth(Described):
    destination_id: str
    attempts: int
    failed: int
    error_rate: float | None
    pending: int
    oldest_pending_at: datetime | None
    oldest_pending_age_s: int | None


class Metrics(Described):
    from_: datetime = Field(alias="from")
    to: datetime
    bucket_s: int
    times: list[datetime]
    requests: RequestSeries
    events: EventSeries
    attempts: AttemptSeries
    destinations: list[DestinationHealth]
