"""The fault schedule and the verdict are pure: checked fast, on their own."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.chaos.load import Sent
from tests.chaos.receiver import Delivery
from tests.chaos.schedule import (
    BROKER_STOP_S,
    MIN_DURATION_S,
    RECEIVER_DOWN_S,
    TAIL_S,
    Fault,
    schedule,
)
from tests.chaos.verify import FaultRun, Route, Snapshot, verdict


@given(st.floats(min_value=MIN_DURATION_S, max_value=24 * 3600))
def test_every_cycle_fits_and_keeps_the_issue_windows(duration_s):
    faults = schedule(duration_s)
    assert len(faults) % 6 == 0 and faults
    for fault in faults:
        assert (
            fault.hold_s
            == {"kill": 0.0, "receiver_down": RECEIVER_DOWN_S, "broker_stop": BROKER_STOP_S}[
                fault.kind
            ]
        )
    starts = [f.at_s for f in faults]
    assert starts == sorted(starts) and starts[0] > 0
    # One outage at a time: each fault ends before the next begins.
    assert all(a.ends_s <= b.at_s for a, b in pairwise(faults))
    assert faults[-1].ends_s <= duration_s - TAIL_S + 1e-6
    assert {f.target for f in faults[:6]} == {
        "ingress",
        "router",
        "deliverer",
        "projections",
        "receiver",
        "broker",
    }


def test_a_run_too_short_for_one_cycle_is_refused():
    with pytest.raises(ValueError, match="at least"):
        schedule(MIN_DURATION_S - 1)


def test_the_verdict_names_a_lost_callback_and_a_false_200():
    route = Route("all", "messaging", "/all", None, retries=True, connection_id="con_1")
    sent = [
        Sent("SM1", "messaging", "sent", 1.0, 1.1, 200, "req_1"),
        Sent("SM2", "messaging", "sent", 2.0, 2.1, 200, "req_2"),
        Sent("SM3", "messaging", "sent", 3.0, 3.1, 200, "req_3"),
    ]
    deliveries = [
        Delivery("/all", "evt_1", 1, "SM1", False, 1.5),
        Delivery("/all", "evt_1", 2, "SM1", False, 1.7),
    ]
    snap = Snapshot(
        requests=[{"id": "req_1", "status": "accepted"}, {"id": "req_2", "status": "accepted"}],
        events=[
            {
                "id": "evt_1",
                "request_id": "req_1",
                "connection_id": "con_1",
                "status": "SUCCESSFUL",
            },
            {"id": "evt_2", "request_id": "req_2", "connection_id": "con_1", "status": "FAILED"},
        ],
        attempts=[],
        ignored=[],
        topic_counts={"requests": 2, "events": 2, "attempts": 0, "ignored": 0},
        sid_of_request={"req_1": "SM1", "req_2": "SM2"},
    )
    report = verdict(sent, deliveries, snap, [route], [])
    assert report.counts["lost (must be 0)"] == 2
    assert report.counts["duplicates (same event id)"] == 1
    assert any("answered 200 but not stored: req_3" in p for p in report.problems)
    assert any(p.startswith("lost: req_2 (SM2)") for p in report.problems)
    assert "| lost (must be 0) | 2 |" in report.table()


def test_a_broker_stop_without_a_503_is_a_problem():
    run = FaultRun(Fault(10.0, "broker_stop", "broker", BROKER_STOP_S), 10.0, 20.0)
    sent = [Sent("SM1", "voice", "sent", 12.0, 21.0, 200, "req_1")]
    snap = Snapshot(
        [{"id": "req_1", "status": "accepted"}],
        [],
        [],
        [],
        {"requests": 1, "events": 0, "attempts": 0, "ignored": 0},
        {"req_1": "SM1"},
    )
    report = verdict(sent, [], snap, [], [run])
    assert any(p.startswith("no 503 while the broker was stopped") for p in report.problems)
    assert any(p.startswith("no recovery seen after broker SIGSTOP") for p in report.problems)
