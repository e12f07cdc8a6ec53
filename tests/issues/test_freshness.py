"""When the issues job syncs its config view before a batch (issues.freshness), pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from issues.freshness import CLOCK_SKEW_MS, made_at, may_follow_config_change
from schemas.ids import new_id
from schemas.issues import MIN_TRIGGER_MS
from tests.issues.records import attempt, ignored

T0 = 1_700_000_000_000
KNOWN = {"con_1"}


def follows(name: str, record: dict, fresh_ms: int = T0) -> bool:
    return may_follow_config_change(name, record, KNOWN, fresh_ms)


def issue_change(actor: str, at: int) -> dict:
    return {"issue": {"issue_id": "iss_1"}, "change": "status", "actor": actor, "changed_at": at}


def test_a_failure_may_follow_a_trigger_made_a_moment_ago():
    assert follows("AttemptRecorded", attempt("con_1", T0))
    assert follows("AttemptRecorded", attempt("con_1", T0, final=False))
    assert follows("EventIgnored", ignored("con_1", T0))
    assert follows("IssueUpdated", issue_change("api", T0))


def test_a_connection_the_view_does_not_know_needs_the_view_first():
    assert follows("AttemptRecorded", attempt("con_new", T0, ok=True))


def test_what_no_new_trigger_can_count_needs_no_sync():
    prompt = attempt("con_1", T0, ok=True, event_id=new_id("evt", T0 - 5))
    assert not follows("AttemptRecorded", prompt)
    retried = attempt("con_1", T0, ok=True, number=2, event_id=new_id("evt", T0 - 60_000))
    assert not follows("AttemptRecorded", retried)
    cancelled = {**attempt("con_1", T0), "event_status": "CANCELLED"}
    assert not follows("AttemptRecorded", cancelled)
    assert not follows("EventIgnored", {**ignored("con_1", T0), "cause": "FILTERED"})
    assert not follows("IssueOpened", issue_change("job", T0))


def test_a_first_attempt_late_enough_for_a_backpressure_trigger_needs_the_view():
    def first(waited_ms: int) -> dict:
        return attempt("con_1", T0, ok=True, event_id=new_id("evt", T0 - waited_ms))

    assert not follows("AttemptRecorded", first(MIN_TRIGGER_MS))
    assert follows("AttemptRecorded", first(MIN_TRIGGER_MS + 1))


@given(
    made=st.integers(T0 - 3_600_000, T0 + 3_600_000),
    fresh=st.integers(T0 - 3_600_000, T0 + 3_600_000),
)
def test_a_record_made_well_before_the_view_was_complete_never_needs_it(made: int, fresh: int):
    for name, record in (
        ("AttemptRecorded", attempt("con_new", made)),
        ("EventIgnored", ignored("con_1", made)),
        ("IssueUpdated", issue_change("api", made)),
    ):
        assert made_at(name, record) == made
        assert follows(name, record, fresh) == (made >= fresh - CLOCK_SKEW_MS)
