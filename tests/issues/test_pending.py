"""Backpressure by `pending_count`, pure: events made and not yet ended on a destination; over
the threshold an issue opens, drained below it resolves after the quiet time; an end read
before its event (a restart catching up) is never counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from issues.engine import Engine
from schemas.ids import new_id
from tests.issues.records import TEAM, attempt
from tests.issues.test_engine import T0, emitted, engine_with


def event(at: int, event_id: str | None = None, connection_id: str = "con_1") -> dict:
    return {
        "event_id": event_id or new_id("evt", at),
        "request_id": new_id("req", at),
        "team_id": TEAM,
        "source_id": "src_1",
        "connection_id": connection_id,
        "destination_id": "des_1",
        "created_at": at,
        "due_at": at,
        "attempt_number": 1,
        "trigger": "INITIAL",
    }


def counting(threshold: int = 3) -> Engine:
    return engine_with(
        type="backpressure", destinations=["des_1"], pending_count=threshold, resolve_after_ms=1_000
    )


def test_over_the_threshold_an_issue_opens_and_each_later_event_counts():
    engine = counting(3)
    events = [event(T0 + i) for i in range(5)]
    for e in events[:2]:
        engine.on_event(e)
    assert engine.drain() == [] and engine.pending.count("des_1") == 2
    engine.on_event(events[2])
    [opened] = engine.drain()
    assert opened.change == "opened" and opened.issue["error_code"] == "PENDING_COUNT"
    assert opened.issue["destination_id"] == "des_1" and opened.issue["connection_id"] is None
    assert "3 events pending" in opened.issue["detail"]
    for e in events[3:]:
        engine.on_event(e)
    engine.on_event(events[4])  # sent again (a retry, an unpause): still one pending event
    assert emitted(engine.drain()) == [("count", 3)]


def test_a_retry_keeps_an_event_pending_and_draining_resolves():
    engine = counting(2)
    first, second = event(T0), event(T0 + 1)
    engine.on_event(first)
    engine.on_event(second)
    assert emitted(engine.drain()) == [("opened", 1)]
    engine.on_attempt(attempt("con_1", T0 + 5, final=False, event_id=first["event_id"]))
    assert engine.pending.count("des_1") == 2  # a retry is due: still pending
    engine.on_attempt(attempt("con_1", T0 + 6, ok=True, event_id=first["event_id"]))
    assert engine.pending.count("des_1") == 1
    engine.tick(T0 + 500)
    assert emitted(engine.drain()) == []  # the quiet time has not passed
    engine.tick(T0 + 2_000)
    assert emitted(engine.drain()) == [("resolved", 1)]


def test_an_end_read_before_its_event_is_not_counted_and_is_forgotten_later():
    engine = counting(1)
    late = event(T0)
    engine.on_attempt(attempt("con_1", T0 + 5, ok=True, event_id=late["event_id"]))
    engine.on_event(late)
    assert engine.pending.count("des_1") == 0 and engine.drain() == []
    engine.on_attempt(attempt("con_1", T0 + 6, ok=True, event_id=new_id("evt", T0)))
    engine.tick(T0 + 60 * 60_000)
    assert engine.pending.done == {}


def test_events_pending_when_the_trigger_goes_still_end():
    engine = counting(5)
    first, second = event(T0), event(T0 + 1)
    engine.on_event(first)
    engine.on_event(second)
    engine.apply_config("itr_1", None)  # the trigger deleted
    engine.on_attempt(attempt("con_1", T0 + 5, ok=True, event_id=first["event_id"]))
    engine.on_attempt(attempt("con_1", T0 + 6, ok=True, event_id=new_id("evt", T0)))
    assert engine.pending.count("des_1") == 1 and engine.pending.done == {}


def test_other_destinations_and_system_connections_are_not_counted():
    engine = counting(1)
    engine.on_event({**event(T0), "destination_id": "des_2"})
    assert engine.drain() == [] and engine.pending.count("des_2") == 0
    assert engine.watches_pending
    assert not engine_with(type="delivery").watches_pending


@given(
    st.lists(st.tuples(st.integers(0, 7), st.sampled_from(["event", "retry", "end"])), max_size=40),
    st.integers(0, 40),
)
def test_pending_state_restored_midway_counts_the_same(steps, cut):
    ids = [new_id("evt", T0 + i) for i in range(8)]

    def run(engine: Engine, part) -> None:
        for i, (n, kind) in part:
            at = T0 + 100 + i
            if kind == "event":
                engine.on_event(event(at, ids[n]))
            else:
                engine.on_attempt(
                    attempt("con_1", at, ok=kind == "end", final=False, event_id=ids[n])
                )
            engine.drain()

    numbered = list(enumerate(steps))
    whole = counting(3)
    run(whole, numbered)
    first = counting(3)
    run(first, numbered[:cut])
    second = counting(3)
    for key, value in first.state_changes().items():
        second.load(key, value)
    run(second, numbered[cut:])
    assert second.pending.by_destination == whole.pending.by_destination
    assert second.pending.done == whole.pending.done
    assert {k: t.issue["count"] for k, t in second.tracked.items()} == {
        k: t.issue["count"] for k, t in whole.tracked.items()
    }
