"""The issues engine, pure: what opens, counts, escalates, resolves and notifies."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from issues.engine import Emit, Engine, Notify, Pause
from schemas.codec import decode, encode
from schemas.ids import new_id
from tests.issues.records import TEAM, attempt, config, ignored, trigger_entity

T0 = 1_700_000_000_000
HOOK = {"webhook": {"url": "https://ops.example.com/hook"}}


def engine_with(**configs) -> Engine:
    engine = Engine()
    engine.apply_config("itr_1", config("issue_trigger", trigger_entity("itr_1", **configs)))
    engine.apply_config(
        "con_1",
        config(
            "connection",
            {"id": "con_1", "team_id": TEAM, "destination_id": "des_1", "paused_at": None},
        ),
    )
    return engine


def emitted(effects) -> list[tuple[str, int]]:
    return [(e.change, e.issue["count"]) for e in effects if isinstance(e, Emit)]


def test_a_final_failure_opens_one_issue_and_repeats_update_it():
    engine = engine_with(strategy="final_attempt", channels=HOOK)
    engine.on_attempt(attempt("con_1", T0, final=False))  # will be retried: not final
    assert engine.drain() == []
    engine.on_attempt(attempt("con_1", T0 + 1))
    effects = engine.drain()
    assert emitted(effects) == [("opened", 1)]
    assert [e.kind for e in effects if isinstance(e, Notify)] == ["issue.opened"]
    for i in range(3):
        engine.on_attempt(attempt("con_1", T0 + 2 + i))
    assert emitted(engine.drain()) == [("count", 4)]  # a burst is one record
    issue = next(iter(engine.tracked.values())).issue
    assert issue["response_status"] == 500 and len(issue["sample_event_ids"]) == 4
    assert (
        decode(
            encode(
                "IssueUpdated",
                {"issue": issue, "change": "count", "actor": "job", "changed_at": T0},
            )
        )["issue"]
        == issue
    )


def test_error_classes_open_separate_issues_and_matchers_filter():
    engine = engine_with(
        strategy="final_attempt", response_status_codes=["500-599"], error_codes=["TIMEOUT"]
    )
    engine.on_attempt(attempt("con_1", T0, status=502))
    engine.on_attempt(attempt("con_1", T0, status=None, error_code="TIMEOUT"))
    engine.on_attempt(attempt("con_1", T0, status=404))  # not matched
    engine.on_attempt(attempt("con_1", T0, status=None, error_code="DNS_FAILURE"))
    assert sorted(emitted(engine.drain())) == [("opened", 1), ("opened", 1)]
    keys = {(t.issue["response_status"], t.issue["error_code"]) for t in engine.tracked.values()}
    assert keys == {(502, None), (None, "TIMEOUT")}


def test_consecutive_strategy_needs_a_run_and_a_success_breaks_it():
    engine = engine_with(strategy="consecutive", count=3)
    for i in range(2):
        engine.on_attempt(attempt("con_1", T0 + i, final=False))
    engine.on_attempt(attempt("con_1", T0 + 2, ok=True))
    for i in range(2):
        engine.on_attempt(attempt("con_1", T0 + 3 + i, final=False))
    assert engine.drain() == []
    engine.on_attempt(attempt("con_1", T0 + 5, final=False))
    assert emitted(engine.drain()) == [("opened", 1)]


def test_resolves_after_quiet_time_with_a_success_and_notifies():
    engine = engine_with(resolve_after_ms=10_000, channels=HOOK)
    engine.on_attempt(attempt("con_1", T0))
    engine.drain()
    engine.tick(T0 + 60_000)
    assert engine.drain() == []  # quiet, but no success yet: still failing for all we know
    engine.on_attempt(attempt("con_1", T0 + 1_000, ok=True))
    engine.tick(T0 + 5_000)
    assert engine.drain() == []  # not quiet long enough
    engine.tick(T0 + 10_000)
    effects = engine.drain()
    assert emitted(effects) == [("resolved", 1)]
    assert [e.kind for e in effects if isinstance(e, Notify)] == ["issue.resolved"]
    assert engine.tracked == {}
    engine.on_attempt(attempt("con_1", T0 + 20_000))  # fails again: a new issue
    assert emitted(engine.drain()) == [("opened", 1)]


def test_escalation_notifies_once_per_interval():
    engine = engine_with(escalate_at=[3, 5], notify_interval_ms=60_000, channels=HOOK)
    kinds = []
    for i in range(6):
        engine.on_attempt(attempt("con_1", T0 + i * 1_000))
        kinds += [e.kind for e in engine.drain() if isinstance(e, Notify)]
    assert kinds == ["issue.opened"]  # 3 and 5 crossed within the interval of the opening
    engine.on_attempt(attempt("con_1", T0 + 61_000))
    effects = engine.drain()
    assert [e.kind for e in effects if isinstance(e, Notify)] == ["issue.updated"]
    assert emitted(effects) == [("escalated", 7)]


def test_transformation_errors_open_an_issue_with_sample_requests():
    engine = engine_with(type="transformation")
    engine.on_ignored(ignored("con_1", T0))
    engine.on_ignored(ignored("con_1", T0 + 1, detail="ReferenceError: x"))
    assert emitted(engine.drain()) == [("opened", 1), ("count", 2)]
    issue = next(iter(engine.tracked.values())).issue
    assert issue["type"] == "transformation" and issue["count"] == 2
    assert issue["error_code"] == "TRANSFORMATION_FAILED" and issue["detail"] == "ReferenceError: x"
    assert len(issue["sample_request_ids"]) == 2 and issue["sample_event_ids"] == []


def test_pause_action_and_status_changes_by_hand():
    engine = engine_with(action="pause")
    engine.on_attempt(attempt("con_1", T0))
    effects = engine.drain()
    assert [e.connection_id for e in effects if isinstance(e, Pause)] == ["con_1"]
    issue = next(iter(engine.tracked.values())).issue
    assert issue["paused_at"] == T0
    asked = {
        "issue": {**issue, "status": "ACKNOWLEDGED", "version": issue["version"] + 1},
        "actor": "api",
        "change": "status",
        "changed_at": T0,
    }
    engine.on_issue_change(asked, T0 + 5)
    [emit] = engine.drain()
    assert (emit.change, emit.issue["status"]) == ("status", "ACKNOWLEDGED")
    assert emit.issue["version"] > asked["issue"]["version"]
    engine.on_issue_change({**asked, "issue": {**emit.issue, "status": "RESOLVED"}}, T0 + 6)
    assert emitted(engine.drain()) == [("resolved", 1)] and engine.tracked == {}


def test_system_connections_and_cancellations_never_open_issues():
    engine = engine_with()
    engine.apply_config(
        "con_sys",
        config(
            "connection",
            {
                "id": "con_sys",
                "team_id": TEAM,
                "destination_id": "des_2",
                "system": "issue_trigger",
            },
        ),
    )
    engine.on_attempt(attempt("con_sys", T0))
    cancelled = {**attempt("con_1", T0), "event_status": "CANCELLED"}
    engine.on_attempt(cancelled)
    assert engine.drain() == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["con_1", "con_2"]), st.sampled_from([500, 502, None]), st.booleans()
        ),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=59),
)
def test_state_saved_and_restored_midway_ends_the_same(steps, cut):
    """What a restart does: the state written so far, loaded into a new engine, then the
    rest of the records. The open issues and counts are those of an uninterrupted run."""

    def run(engine: Engine, part) -> None:
        for i, (connection, status, ok) in part:
            record = attempt(
                connection,
                T0 + i,
                status=status,
                error_code="TIMEOUT" if status is None else None,
                ok=ok,
            )
            engine.on_attempt({**record, "attempt_id": f"atm_{i}"})  # the same in both runs
            engine.drain()

    numbered = list(enumerate(steps))
    whole = engine_with(strategy="consecutive", count=2)
    run(whole, numbered)

    first = engine_with(strategy="consecutive", count=2)
    run(first, numbered[:cut])
    saved = first.state_changes()
    second = engine_with(strategy="consecutive", count=2)
    for key, value in saved.items():
        second.load(key, value)
    run(second, numbered[cut:])

    def summary(engine: Engine):
        return sorted((k, t.issue["count"], t.issue["issue_id"]) for k, t in engine.tracked.items())

    assert summary(second) == summary(whole)
    assert second.runs == whole.runs


def test_backpressure_a_late_first_attempt_opens_an_issue_on_the_destination():
    engine = engine_with(
        type="backpressure", destinations="*", oldest_pending_ms=5_000, resolve_after_ms=1_000
    )
    late = attempt("con_1", T0, ok=True, event_id=new_id("evt", T0 - 60_000))
    prompt = attempt("con_1", T0 + 10, ok=True, event_id=new_id("evt", T0 + 5))
    engine.on_attempt(prompt)
    assert engine.drain() == []
    engine.on_attempt(late)
    [emit] = engine.drain()
    assert emit.change == "opened" and emit.issue["destination_id"] == "des_1"
    assert emit.issue["connection_id"] is None and emit.issue["error_code"] == "BACKPRESSURE"
    engine.on_attempt({**prompt, "created_at": T0 + 20})  # prompt again: catching up
    engine.tick(T0 + 2_000)
    assert emitted(engine.drain()) == [("resolved", 1)]


def test_a_delay_rule_is_not_backpressure():
    engine = engine_with(type="backpressure", oldest_pending_ms=5_000)
    engine.apply_config(
        "con_1",
        config(
            "connection",
            {
                "id": "con_1",
                "team_id": TEAM,
                "destination_id": "des_1",
                "rules": [{"type": "delay", "delay": 60_000}],
            },
        ),
    )
    engine.on_attempt(attempt("con_1", T0, ok=True, event_id=new_id("evt", T0 - 61_000)))
    assert engine.drain() == []
