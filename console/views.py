"""Pure decisions of the pages: which URL filters become which API parameters, the built-in
saved views, how a body is shown, the Twilio fields at a glance."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

# The console's URL names (short, readable in a deep link) → the API's list parameters.
EVENT_FILTERS: dict[str, str] = {
    "status": "status",
    "source_id": "source_id",
    "connection_id": "connection_id",
    "destination_id": "destination_id",
    "response_status": "response_status",
    "error_code": "error_code",
    "request_id": "request_id",
    "q": "q",
    "from": "created_at[gte]",
    "to": "created_at[lte]",
    "attempts_min": "attempts[gte]",
    "attempts_max": "attempts[lte]",
    "sort": "order_by",
}
# How the events list may be sorted (the URL's `sort`; none is the API's default, newest
# created first). Presentation, not a filter: a bulk job's query leaves it out.
EVENT_SORTS: tuple[tuple[str, str], ...] = (
    ("", "Created, newest first"),
    ("last_attempt_at", "Last attempt, latest first"),
)
NOT_FILTERS = ("sort",)
REQUEST_FILTERS: dict[str, str] = {
    "source_id": "source_id",
    "status": "status",
    "cause": "rejection_cause",
    "event_type": "event_type",
    "q": "q",
    "from": "created_at[gte]",
    "to": "created_at[lte]",
}
CURSORS = ("next", "prev")
EVENT_STATUSES = ("QUEUED", "SCHEDULED", "HOLD", "SUCCESSFUL", "FAILED", "CANCELLED")
REJECTION_CAUSES = (
    "METHOD_NOT_ALLOWED",
    "VERIFICATION_FAILED",
    "SOURCE_DISABLED",
    "BODY_TOO_LARGE",
)
# Saved views built in: a name and the filters it sets.
SAVED_VIEWS: tuple[tuple[str, dict[str, str]], ...] = (
    ("All", {}),
    ("Successful", {"status": "SUCCESSFUL"}),
    ("Failed", {"status": "FAILED"}),
    ("Pending", {"status": "QUEUED"}),
    ("Scheduled", {"status": "SCHEDULED"}),
    ("Held", {"status": "HOLD"}),
)
TWILIO_FIELDS = (
    "MessageSid",
    "SmsSid",
    "CallSid",
    "AccountSid",
    "MessageStatus",
    "SmsStatus",
    "CallStatus",
    "ErrorCode",
    "ErrorMessage",
    "From",
    "To",
)
_TWILIO_IDS = ("MessageSid", "SmsSid", "CallSid")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def api_time(value: str) -> str:
    """A datetime-local input (`2026-01-02T03:04`, no seconds, no offset: UTC) as RFC 3339."""
    value = value.strip()
    return value + ":00" if len(value) == 16 else value


def filters_from(query: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """The console filters present (non-empty) in a page's URL query, by console name."""
    return {name: query[name].strip() for name in names if query.get(name, "").strip()}


def api_params(filters: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """Console filters as the API's list parameters."""
    return {
        names[k]: api_time(v) if k in ("from", "to") else v
        for k, v in filters.items()
        if k in names
    }


def page_params(
    query: Mapping[str, str], names: Mapping[str, str], limit: int = 50
) -> dict[str, str]:
    """Everything a list page asks the API: its filters, one cursor, a page size."""
    params = api_params(filters_from(query, names), names)
    cursor = next(((c, query[c]) for c in CURSORS if query.get(c)), None)
    if cursor:
        params[cursor[0]] = cursor[1]
    params["limit"] = str(limit)
    return params


def link(filters: Mapping[str, str], **changes: str | None) -> str:
    """A page's query string with some filters changed (None removes one); cursors never
    carry over, since they belong to the old filters."""
    merged = {k: v for k, v in {**filters, **changes}.items() if v}
    return "?" + urlencode(merged) if merged else "?"


def bulk_query(filters: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    """A list page's filters as a bulk job's `query` (the list route's filters as JSON)."""
    return api_params({k: v for k, v in filters.items() if k not in NOT_FILTERS}, names)


@dataclass(frozen=True)
class Body:
    kind: str  # json | form | text | binary | empty
    text: str  # the exact bytes as text (UTF-8, or \\x escapes where they are not)
    pretty: str | None = None  # JSON indented
    fields: list[tuple[str, str]] = field(default_factory=list)  # form fields, in order


def _plain(raw: bytes, text: str) -> Body:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return Body("binary", text)
    return Body("text", text)


def body_view(raw: bytes, content_type: str) -> Body:
    text = raw.decode("utf-8", errors="backslashreplace")
    media = content_type.split(";", 1)[0].strip().lower()
    if not raw:
        return Body("empty", "")
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
            return Body("form", text, fields=pairs)
        except (ValueError, UnicodeDecodeError):
            return _plain(raw, text)
    if media.endswith("json") or media.endswith("+json"):
        try:
            return Body(
                "json", text, pretty=json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
            )
        except ValueError:
            return _plain(raw, text)
    return _plain(raw, text)


def twilio_glance(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The fields of a Twilio callback worth a glance, in a fixed order; none if it is not
    one (no Message/Sms/Call Sid)."""
    values = dict(fields)
    if not any(values.get(k) for k in _TWILIO_IDS):
        return []
    return [(k, values[k]) for k in TWILIO_FIELDS if k in values]


def response_class(status: int | None) -> str:
    """A CSS class for a response status: 2xx ok, 4xx/5xx bad, none (network error) bad."""
    if status is None:
        return "bad"
    return "ok" if 200 <= status < 300 else "warn" if status < 400 else "bad"
