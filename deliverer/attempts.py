"""Pure decisions after an attempt: the AttemptRecorded, the event's new status, and the next
attempt to schedule (if the connection's retry rule wants one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deliverer.outgoing import HttpRequest, Outcome, redacted
from deliverer.retry import next_delay_ms, should_retry
from schemas.headers import header_records
from schemas.ids import derived_id, id_time_ms

# Only the pipeline's own attempts continue on the retry schedule; an operator's manual or
# bulk retry is one more attempt, not a new schedule.
SCHEDULING_TRIGGERS = frozenset({"INITIAL", "AUTOMATIC", "UNPAUSE"})
# The event was not delivered because its connection or destination no longer delivers:
# it ends CANCELLED (not FAILED), since nothing about the request itself went wrong.
CANCELLING_ERRORS = frozenset(
    {"CONNECTION_DISABLED", "DESTINATION_DISABLED", "CONNECTION_DELETED", "DESTINATION_DELETED"}
)
# Errors that another try cannot fix.
PERMANENT_ERRORS = frozenset(
    {"BLOCKED_DESTINATION", "INVALID_REQUEST", "INTERNAL_ERROR", *CANCELLING_ERRORS}
)


def attempt_id(event: dict[str, Any]) -> str:
    """The same id whenever the same attempt is made again (a re-run after a crash, a retry
    scheduled twice): never from the clock of the try.

    The pipeline's attempts are one per (event, number, trigger), stamped with the event id's
    time plus the number, so one event's attempts sort in order. An operator's retries may
    share a number (counted from what was projected so far), so each is told apart by its own
    record: when the retry was asked for (stable across re-reads of that record) and its bulk.
    """
    event_id, number, trigger = event["event_id"], event["attempt_number"], event["trigger"]
    parts = [event_id, str(number), trigger]
    if trigger in SCHEDULING_TRIGGERS:
        try:
            stamp = id_time_ms(event_id) + number
        except ValueError:  # not one of our ids: only its record's time is left
            stamp = event["created_at"]
    else:
        stamp = event["created_at"]
        parts += [str(event["created_at"]), event.get("bulk_id") or ""]
    return derived_id("atm", stamp, *parts)


@dataclass(frozen=True, slots=True)
class Decision:
    attempt: dict[str, Any]
    retry: dict[str, Any] | None  # the next EventCreated, due later


def decide(
    event: dict[str, Any],
    request: HttpRequest,
    outcome: Outcome,
    retry_rule: dict[str, Any] | None,
    now_ms: int,
    attempt_key: str | None = None,
) -> Decision:
    """`attempt_key`: `attempt_id(event)` when the caller has it already (a SHA-256 and an id
    spelled out: not worth doing twice per delivery)."""
    ok = outcome.status is not None and 200 <= outcome.status < 300
    retry: dict[str, Any] | None = None
    if (
        not ok
        and event["trigger"] in SCHEDULING_TRIGGERS
        and (outcome.error_code not in PERMANENT_ERRORS)
        and should_retry(retry_rule, outcome.status, outcome.error_code)
    ):
        assert retry_rule is not None
        delay = next_delay_ms(
            retry_rule, event["attempt_number"], outcome.header("Retry-After"), now_ms / 1000
        )
        if delay is not None:
            retry = {
                **event,
                "attempt_number": event["attempt_number"] + 1,
                "trigger": "AUTOMATIC",
                "due_at": now_ms + delay,
                "created_at": now_ms,
            }
    if ok:
        status = "SUCCESSFUL"
    elif outcome.error_code in CANCELLING_ERRORS:
        status = "CANCELLED"
    else:
        status = "SCHEDULED" if retry else "FAILED"
    # The destination's credential goes to the receiver only, never into what is stored.
    url, headers = redacted(request)
    attempt = {
        "attempt_id": attempt_key if attempt_key is not None else attempt_id(event),
        "event_id": event["event_id"],
        "request_id": event["request_id"],
        "team_id": event["team_id"],
        "source_id": event["source_id"],
        "connection_id": event["connection_id"],
        "destination_id": event["destination_id"],
        "attempt_number": event["attempt_number"],
        "trigger": event["trigger"],
        "status": "SUCCESSFUL" if ok else "FAILED",
        "requested_url": url,
        "http_method": request.method,
        "request_headers": header_records(headers),
        "response_status": outcome.status,
        "response_headers": header_records(outcome.headers),
        "response_body": outcome.body,
        "response_latency_ms": outcome.latency_ms,
        "error_code": outcome.error_code,
        "event_status": status,
        "next_attempt_at": retry["due_at"] if retry else None,
        "created_at": now_ms,
    }
    return Decision(attempt, retry)


def failed_without_request(
    event: dict[str, Any], error_code: str, detail: str, now_ms: int
) -> dict[str, Any]:
    """An attempt that was not sent: its connection or destination no longer delivers, or the
    request could not be built."""
    request = HttpRequest(event["request"]["method"], "", [], b"")
    outcome = Outcome(None, error_code=error_code, error=detail)
    return decide(event, request, outcome, None, now_ms).attempt
