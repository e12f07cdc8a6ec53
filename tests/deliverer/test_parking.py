"""The pure parking logic: reservations honour the rate, waits in memory stay bounded."""

from __future__ import annotations

import heapq
import math
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from deliverer.parking import (
    BUSY_PARK_MAX_S,
    BUSY_PARK_MIN_S,
    MAX_RESERVED,
    MEMORY_WAIT_S,
    RESERVE_HORIZON_S,
    RETURN_LEAD_S,
    SHORT_WAIT_LIMIT_S,
    Go,
    Line,
    Park,
    RateSchedule,
    parked_event,
    parking_tier,
)
from projections.rows import event_created_rows
from schemas.topics import RETRY_TIERS_MS
from tests.support.deliverer import Pipe, make_event

PIPE = Pipe({"id": "team_1"}, {"id": "des_1"}, {"id": "con_1", "source_id": "src_1"}, "s")


def test_a_rate_of_one_an_hour_parks_the_second_event_with_a_reservation():
    line = Line(10, RateSchedule(1, 3600))
    assert line.send_time("evt_1", 100.0, may_wait=True) == Go(100.0)
    second = line.send_time("evt_2", 100.0, may_wait=True)
    assert second == Park(100.0 + 3600 - RETURN_LEAD_S)
    assert line.reserved == {"evt_2": 3700.0}
    # Back a second early: it is sent at its reserved time; another one then is past the
    # one-hour horizon, parked without a reservation.
    third = line.send_time("evt_3", 3699.0, may_wait=True)
    assert isinstance(third, Park) and 7300.0 <= third.until < 7300.0 + RESERVE_HORIZON_S
    assert line.send_time("evt_2", 3699.0, may_wait=True) == Go(3700.0)


def test_past_the_horizon_events_park_without_a_reservation_and_come_back_spread_out():
    line = Line(10, RateSchedule(1, 60))
    decisions = [line.send_time(f"evt_{i}", 0.0, may_wait=False) for i in range(200)]
    assert len(line.reserved) == RESERVE_HORIZON_S / 60
    assert decisions[0] == Go(0.0)
    unreserved = [
        d.until for i, d in enumerate(decisions[1:], 1) if f"evt_{i}" not in line.reserved
    ]
    end = line.rate.next_free(0.0)
    assert all(end <= u < end + RESERVE_HORIZON_S for u in unreserved)
    assert len(set(unreserved)) > 100


def test_reservations_are_bounded_and_stale_ones_expire():
    line = Line(10, RateSchedule(100_000, 1))
    for i in range(MAX_RESERVED + 50):
        line.send_time(f"evt_{i}", 0.0, may_wait=False)
    assert len(line.reserved) == MAX_RESERVED
    later = 2 * RESERVE_HORIZON_S
    assert line.send_time("now", later, may_wait=False) == Go(later)
    assert isinstance(line.send_time("next", later, may_wait=False), Park)
    assert list(line.reserved) == ["next"]


def test_waiting_in_memory_is_bounded_per_destination_and_in_total():
    line = Line(4)
    line.hold_s = 10.0  # slow: past its concurrency, waiting is long
    line.waiting = 3
    assert line.may_wait(3, 100, 0.0)
    line.waiting = 4
    assert not line.may_wait(4, 100, 0.0)
    line.hold_s = 0.01  # fast: a longer line still waits briefly
    assert line.may_wait(4, 100, 0.0)
    assert not line.may_wait(100, 100, 0.0)  # the shared budget is spent


def test_a_fast_line_waits_past_the_shared_budget_for_a_bounded_time_a_slow_one_parks():
    line = Line(4)
    line.waiting = 3
    assert line.slot_wait(3, 100, 0.0) == math.inf  # within its concurrency and the budget
    assert line.slot_wait(100, 100, 0.0) == SHORT_WAIT_LIMIT_S  # budget spent, line fast
    line.waiting = 4
    line.hold_s = 0.01
    assert line.slot_wait(4, 100, 0.0) == SHORT_WAIT_LIMIT_S  # past its concurrency: bounded
    line.waiting = 399  # 400 ahead at 10 ms over 4 slots: a second
    assert line.slot_wait(100, 100, 0.0) == SHORT_WAIT_LIMIT_S
    line.waiting = 400
    assert line.slot_wait(100, 100, 0.0) is None
    line.waiting, line.hold_s = 4, 10.0  # slow: past its concurrency, the wait is long
    assert line.slot_wait(4, 100, 0.0) is None


def test_a_new_line_lets_a_backlog_wait_until_it_is_seen_to_be_slow():
    line = Line(100)
    line.waiting = 900  # a backlog read at start: nothing has finished yet
    for _ in range(100):
        line.started(0.0)
    assert line.slot_wait(1000, 500, 0.05) == SHORT_WAIT_LIMIT_S
    assert line.slot_wait(1000, 500, 1.0) is None  # a second without an answer: slow


def test_a_fast_destination_that_stops_answering_stops_getting_a_long_line():
    line = Line(4)
    for _ in range(20):
        line.started(0.0)
        line.finished(0.0, 0.01)
    line.waiting = 10
    for _ in range(4):
        line.started(1.0)  # every slot taken from 1 s on, and none frees
    assert line.may_wait(10, 100, 1.1)
    assert not line.may_wait(10, 100, 3.0)
    assert line.hold_estimate(3.0) == 2.0


def test_a_busy_destination_parks_events_spaced_at_the_pace_it_frees_slots():
    line = Line(10)
    line.hold_s = 20.0  # e.g. a destination that never answers, timeout 20 s
    times = [line.busy_until(f"evt_{i}", 0.0) for i in range(400)]
    assert times[0] == BUSY_PARK_MIN_S
    assert times[1] - times[0] == 2.0
    assert all(BUSY_PARK_MIN_S <= t <= BUSY_PARK_MAX_S for t in times)


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(1, 50),
    period=st.sampled_from([1.0, 60.0, 3600.0]),
    arrivals=st.lists(
        st.tuples(st.floats(0, 5), st.booleans(), st.floats(0, 3)), min_size=1, max_size=120
    ),
)
def test_every_send_keeps_the_rate_whatever_parks_and_returns(rate, period, arrivals):
    """Fresh events arrive at any time, some with room to wait in memory; parked ones come back
    when told, or later (the trip through the topics lags), and ask again. Sends (at
    max(now, Go.at)) never come closer than the interval."""
    line = Line(10, RateSchedule(rate, period))
    queue: list[tuple[float, int, str, bool, float]] = []
    now = 0.0
    for number, (gap, may_wait, lag) in enumerate(arrivals):
        now += gap
        heapq.heappush(queue, (now, number, f"evt_{number}", may_wait, lag))
    sends, asked = [], 0
    while queue and asked < 2_000:
        now, number, event_id, may_wait, lag = heapq.heappop(queue)
        asked += 1
        decision = line.send_time(event_id, now, may_wait)
        if isinstance(decision, Go):
            assert decision.at - now <= max(MEMORY_WAIT_S, RETURN_LEAD_S) + 1e-9
            sends.append(max(now, decision.at))
        else:
            assert decision.until >= now
            heapq.heappush(queue, (decision.until + lag, number, event_id, may_wait, lag))
    sends.sort()
    interval = period / rate
    assert all(b - a >= interval - 1e-6 for a, b in pairwise(sends))


def test_a_reservation_is_lost_when_the_event_comes_back_late_or_is_parked_busy():
    line = Line(10, RateSchedule(1, 60))
    line.send_time("first", 0.0, may_wait=False)
    assert line.send_time("late", 0.0, may_wait=False) == Park(60.0 - RETURN_LEAD_S)
    assert isinstance(line.send_time("late", 62.0, may_wait=False), Park)  # not sent at 62
    line.send_time("busy", 62.0, may_wait=False)
    line.busy_until("busy", 100.0)
    assert "busy" not in line.reserved


def test_a_parked_event_keeps_its_attempt_and_trigger_and_reads_scheduled():
    event = {**make_event(PIPE), "attempt_number": 3, "trigger": "AUTOMATIC"}
    parked = parked_event(event, event["created_at"] + 10, 7.5)
    assert (parked["attempt_number"], parked["trigger"]) == (3, "AUTOMATIC")
    assert parked["due_at"] == parked["created_at"] + 7500
    [(_, first), _] = event_created_rows(event)
    [(_, then), _] = event_created_rows(parked)
    # The later fact wins: SCHEDULED, its next attempt at the time it comes back.
    assert (then["at"], then["rank"]) > (first["at"], first["rank"])
    assert (then["state"], then["next_due_at"]) == ("SCHEDULED", parked["due_at"])
    assert then["fact_key"] != first["fact_key"]


def test_a_parked_event_waits_on_a_tier_even_when_due_soon():
    assert parking_tier(0) == RETRY_TIERS_MS[0]
    assert parking_tier(7_000) == 5_000
    assert parking_tier(2 * 3_600_000) == 3_600_000


def test_a_line_without_a_rate_limit_sends_at_once() -> None:
    assert Line(2).send_time("evt_1", 5.0, may_wait=False) == Go(5.0)
