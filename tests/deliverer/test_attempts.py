"""The AttemptRecorded a delivery leaves behind: a stable id, and no destination credential."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverer.attempts import attempt_id, decide, failed_without_request
from deliverer.outgoing import HttpRequest, build_request
from deliverer.sending import Outcome
from schemas.ids import id_time_ms

NOW_MS = 1_780_000_000_000
RETRY = {"type": "retry", "strategy": "linear", "count": 3, "interval": 60_000}


def make_event(attempt_number=1, trigger="INITIAL", created_at=NOW_MS - 5_000, bulk_id=None):
    return {
        "event_id": "evt_01JZ0000000000000000000000",
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "connection_id": "con_1",
        "destination_id": "des_1",
        "created_at": created_at,
        "due_at": created_at,
        "attempt_number": attempt_number,
        "trigger": trigger,
        "source_url": "https://hooks.example.com/tok",
        "request": {
            "method": "POST",
            "path": "/status",
            "query": "a=1",
            "headers": [{"name": "Content-Type", "value": "text/plain", "raw": None}],
            "body": b"hi",
        },
        "bulk_id": bulk_id,
    }


def destination(auth_type, auth=None):
    return {
        "id": "des_1",
        "config": {"url": "https://receiver.example/hook", "auth_type": auth_type, "auth": auth},
    }


def attempt_of(event, dest=None, outcome=None, now_ms=NOW_MS, rule=None):
    request = build_request(event, dest or destination(None), ["whsec_a"], now_ms // 1000)
    return decide(event, request, outcome or Outcome(500), rule, now_ms)


# --- the attempt id ------------------------------------------------------------------------


def test_a_rerun_of_the_same_attempt_gets_the_same_id():
    """After a crash the record is read again and sent again, later: the same attempt."""
    event = make_event(2, "AUTOMATIC")
    first = attempt_of(event, now_ms=NOW_MS).attempt["attempt_id"]
    again = attempt_of(event, now_ms=NOW_MS + 93_000, outcome=Outcome(204)).attempt
    assert again["attempt_id"] == first


def test_two_automatic_records_of_one_attempt_share_the_id():
    """A crash after scheduling but before the offset commit schedules the retry twice, each
    copy with its own times: both copies are still the one attempt 2."""
    one = make_event(2, "AUTOMATIC", created_at=NOW_MS)
    other = make_event(2, "AUTOMATIC", created_at=NOW_MS + 4_321)
    assert attempt_of(one).attempt["attempt_id"] == attempt_of(other).attempt["attempt_id"]


def test_ids_differ_by_attempt_number_and_trigger():
    ids = {
        attempt_of(make_event(n, trigger)).attempt["attempt_id"]
        for n in (1, 2, 3)
        for trigger in ("INITIAL", "AUTOMATIC", "UNPAUSE")
    }
    assert len(ids) == 9


def test_each_manual_retry_is_its_own_attempt():
    """Two operators' retries may carry the same attempt number (counted from what was
    projected): the retry request's creation time tells them apart, and is stable when the
    same record is read again."""
    first = make_event(4, "MANUAL", created_at=NOW_MS)
    second = make_event(4, "MANUAL", created_at=NOW_MS + 1)
    assert attempt_of(first).attempt["attempt_id"] != attempt_of(second).attempt["attempt_id"]
    assert (
        attempt_of(first, now_ms=NOW_MS + 10).attempt["attempt_id"]
        == attempt_of(first, now_ms=NOW_MS + 99_999).attempt["attempt_id"]
    )
    bulk = [make_event(4, "BULK_RETRY", created_at=NOW_MS, bulk_id=b) for b in ("blk_1", "blk_2")]
    assert len({attempt_of(e).attempt["attempt_id"] for e in bulk}) == 2


def test_attempts_of_an_event_sort_in_attempt_order():
    """The API lists attempts by id: one event's attempts come in the order they were made."""
    ids = [
        attempt_of(make_event(n, "AUTOMATIC" if n > 1 else "INITIAL")).attempt["attempt_id"]
        for n in range(1, 8)
    ]
    assert ids == sorted(ids)
    manual = attempt_of(make_event(8, "MANUAL", created_at=NOW_MS)).attempt["attempt_id"]
    assert manual > ids[-1] and id_time_ms(manual) == NOW_MS


def test_failures_without_a_request_get_stable_ids_too():
    event = make_event()
    first = failed_without_request(event, "CONNECTION_DELETED", "gone", NOW_MS)
    again = failed_without_request(event, "CONNECTION_DELETED", "gone", NOW_MS + 5)
    assert first["attempt_id"] == again["attempt_id"]


@given(
    st.integers(1, 10_000),
    st.sampled_from(["INITIAL", "AUTOMATIC", "UNPAUSE"]),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
)
def test_pipeline_attempt_ids_ignore_the_clock(number, trigger, created_shift, now_shift):
    event = make_event(number, trigger, created_at=NOW_MS + created_shift)
    assert (
        attempt_of(event, now_ms=NOW_MS + now_shift).attempt["attempt_id"]
        == attempt_of(make_event(number, trigger)).attempt["attempt_id"]
    )


def test_an_attempt_id_known_to_the_caller_is_the_one_recorded():
    event = make_event(2, "AUTOMATIC")
    request = HttpRequest("POST", "https://receiver.example/hook", [], b"")
    known = attempt_id(event)
    given = decide(event, request, Outcome(204), None, NOW_MS, known).attempt["attempt_id"]
    assert given == known == attempt_of(event).attempt["attempt_id"]


# --- credentials never stored ----------------------------------------------------------------


def _stored_text(attempt) -> str:
    headers = " ".join(
        f"{h['name']}: {h['value']} {h['raw']!r}" for h in attempt["request_headers"]
    )
    return f"{attempt['requested_url']} {headers}"


@pytest.mark.parametrize(
    ("auth_type", "auth", "secret", "kept"),
    [
        (
            "BASIC_AUTH",
            {"username": "ann", "password": "s3cr3t-pw"},
            base64.b64encode(b"ann:s3cr3t-pw").decode(),
            ("authorization", "Basic REDACTED"),
        ),
        (
            "BEARER_TOKEN",
            {"token": "tok-s3cr3t"},
            "tok-s3cr3t",
            ("authorization", "Bearer REDACTED"),
        ),
        (
            "API_KEY",
            {"header_key": "X-Key", "api_key": "key-s3cr3t", "to": "header"},
            "key-s3cr3t",
            ("x-key", "REDACTED"),
        ),
        ("API_KEY", {"api_key": "key-s3cr3t"}, "key-s3cr3t", ("x-api-key", "REDACTED")),
    ],
)
def test_header_credentials_are_redacted_in_the_attempt(auth_type, auth, secret, kept):
    event = make_event()
    request = build_request(event, destination(auth_type, auth), [], NOW_MS // 1000)
    assert secret in str(request.headers)  # the receiver still gets the real credential
    attempt = decide(event, request, Outcome(401), None, NOW_MS).attempt
    assert secret not in _stored_text(attempt)
    stored = [(h["name"].lower(), h["value"]) for h in attempt["request_headers"]]
    assert kept in stored


def test_query_api_key_is_redacted_in_the_attempt():
    event = make_event()
    auth = {"header_key": "api_key", "api_key": "key s3cr3t&x", "to": "query"}
    request = build_request(event, destination("API_KEY", auth), [], NOW_MS // 1000)
    assert "s3cr3t" in request.url
    attempt = decide(event, request, Outcome(204), None, NOW_MS).attempt
    assert "s3cr3t" not in _stored_text(attempt)
    assert attempt["requested_url"] == "https://receiver.example/hook?api_key=REDACTED"


def test_a_providers_own_headers_and_our_signature_are_kept():
    event = make_event()
    event["request"]["headers"].append({"name": "X-Provider-Token", "value": "p1", "raw": None})
    request = build_request(event, destination("FASTHOOK_SIGNATURE"), ["whsec_a"], NOW_MS // 1000)
    attempt = decide(event, request, Outcome(204), None, NOW_MS).attempt
    stored = {h["name"].lower(): h["value"] for h in attempt["request_headers"]}
    assert stored["x-provider-token"] == "p1"
    assert stored["x-fasthook-signature"].startswith("t=")
    assert attempt["requested_url"] == "https://receiver.example/hook"


# --- what follows an attempt (decide) ---------------------------------------------------------


def test_a_2xx_is_successful_and_schedules_nothing():
    decision = attempt_of(make_event(), outcome=Outcome(204), rule=RETRY)
    assert decision.retry is None
    assert (decision.attempt["status"], decision.attempt["event_status"]) == (
        "SUCCESSFUL",
        "SUCCESSFUL",
    )
    assert decision.attempt["next_attempt_at"] is None


def test_a_failure_with_a_retry_rule_schedules_the_next_attempt():
    decision = attempt_of(make_event(), outcome=Outcome(503), rule=RETRY)
    retry = decision.retry
    assert retry is not None
    assert (retry["attempt_number"], retry["trigger"]) == (2, "AUTOMATIC")
    assert (retry["due_at"], retry["created_at"]) == (NOW_MS + 60_000, NOW_MS)
    assert retry["event_id"] == decision.attempt["event_id"]
    assert decision.attempt["event_status"] == "SCHEDULED"
    assert decision.attempt["next_attempt_at"] == retry["due_at"]


def test_retry_after_lengthens_the_wait_within_its_cap():
    outcome = Outcome(429, headers=[("Retry-After", "120")])
    retry = attempt_of(make_event(), outcome=outcome, rule=RETRY).retry
    assert retry is not None and retry["due_at"] == NOW_MS + 120_000


@pytest.mark.parametrize(
    ("event", "outcome", "rule", "status"),
    [
        (make_event(), Outcome(500), None, "FAILED"),  # no rule: nothing is retried
        (make_event(4, "AUTOMATIC"), Outcome(500), RETRY, "FAILED"),  # its 3 retries used up
        (make_event(1, "MANUAL"), Outcome(500), RETRY, "FAILED"),  # an operator's: one attempt
        (make_event(), Outcome(None, error_code="BLOCKED_DESTINATION"), RETRY, "FAILED"),
        (make_event(), Outcome(None, error_code="DESTINATION_DISABLED"), RETRY, "CANCELLED"),
        (make_event(), Outcome(404), {**RETRY, "response_status_codes": ["500-599"]}, "FAILED"),
    ],
)
def test_a_failure_that_is_not_retried_ends_the_event(event, outcome, rule, status):
    decision = attempt_of(event, outcome=outcome, rule=rule)
    assert decision.retry is None
    assert (decision.attempt["status"], decision.attempt["event_status"]) == ("FAILED", status)


def test_an_event_id_not_of_ours_takes_its_records_time_for_the_attempt_id():
    event = {**make_event(), "event_id": "foreign-id"}
    assert id_time_ms(attempt_of(event).attempt["attempt_id"]) == event["created_at"]


@given(
    st.one_of(st.none(), st.integers(100, 599)),
    st.sampled_from(
        [None, "TIMEOUT", "CONNECTION_REFUSED", "BLOCKED_DESTINATION", "CONNECTION_DELETED"]
    ),
    st.sampled_from(["INITIAL", "AUTOMATIC", "UNPAUSE", "MANUAL", "BULK_RETRY"]),
    st.integers(1, 6),
    st.sampled_from([None, RETRY]),
)
def test_a_retry_is_scheduled_exactly_when_the_event_reads_scheduled(
    status, error_code, trigger, number, rule
):
    outcome = Outcome(status, error_code=None if status else error_code or "TIMEOUT")
    decision = attempt_of(make_event(number, trigger), outcome=outcome, rule=rule)
    scheduled = decision.attempt["event_status"] == "SCHEDULED"
    assert (decision.retry is not None) == scheduled
    if scheduled:
        assert decision.retry["due_at"] > NOW_MS and trigger in ("INITIAL", "AUTOMATIC", "UNPAUSE")
