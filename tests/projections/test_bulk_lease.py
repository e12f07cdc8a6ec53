"""The bulk lease decisions (projections.bulk_lease): who claims a job, and the view of a job
that must never go back, as unit and property tests."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from projections.bulk_jobs import Job
from projections.bulk_lease import (
    claimed,
    created,
    expired,
    newer,
    released,
    renew_due,
    renewed,
    to_claim,
)

LEASE_MS = 30_000
NOW = 1_800_000_000_000


def job(job_id: str = "blk_1", **changes: object) -> Job:
    base = Job(job_id, "tm_1", "events", {}, NOW - 60_000, "evt_zzz", 100)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_new_job_is_claimed_and_a_held_one_is_not() -> None:
    queued = job()
    assert expired(queued, NOW) and to_claim([queued], set(), "b", NOW) == ["blk_1"]
    held = claimed(queued, "a", NOW, LEASE_MS)
    assert (held.owner, held.token, held.lease_until) == ("a", 1, NOW + LEASE_MS)
    assert to_claim([held], set(), "b", NOW + LEASE_MS - 1) == []
    # Its holder died: once the lease lapsed any replica takes it, with the next token.
    assert to_claim([held], set(), "b", NOW + LEASE_MS) == ["blk_1"]
    assert claimed(held, "b", NOW + LEASE_MS, LEASE_MS).token == 2


def test_a_new_job_is_left_to_the_replica_that_created_it() -> None:
    fresh = created(job(), "a", NOW, LEASE_MS)
    assert (fresh.owner, fresh.token) == ("a", 0)
    assert to_claim([fresh], set(), "b", NOW + 1) == []
    assert claimed(fresh, "a", NOW + 1, LEASE_MS).token == 1
    # Its creator died before its worker claimed it: the lease lapses like any other.
    assert to_claim([fresh], set(), "b", NOW + LEASE_MS) == ["blk_1"]


def test_a_released_job_is_claimed_at_once_and_the_release_is_its_latest_state() -> None:
    held = claimed(job(), "a", NOW, LEASE_MS)
    gone = released(held)
    assert newer(gone, held) and not newer(held, gone)
    assert to_claim([gone], set(), "b", NOW + 1) == ["blk_1"]
    assert newer(claimed(gone, "b", NOW + 1, LEASE_MS), gone)


def test_a_restarted_replica_takes_back_its_own_jobs_at_once() -> None:
    held = claimed(job(), "a", NOW, LEASE_MS)
    assert to_claim([held], set(), "a", NOW + 1) == []
    assert to_claim([held], set(), "a", NOW + 1, starting=True) == ["blk_1"]
    assert to_claim([held], set(), "b", NOW + 1, starting=True) == []


def test_ended_and_running_jobs_are_never_claimed() -> None:
    done = replace(job("blk_1"), status="COMPLETED")
    cancelled = replace(job("blk_2"), status="CANCELLED")
    running = job("blk_3")
    assert to_claim([done, cancelled, running], {"blk_3"}, "a", NOW) == []


def test_renewal_is_due_halfway_and_never_shortens_the_lease() -> None:
    held = claimed(job(), "a", NOW, LEASE_MS)
    assert not renew_due(held, NOW + LEASE_MS // 2 - 1, LEASE_MS)
    assert renew_due(held, NOW + LEASE_MS // 2, LEASE_MS)
    assert renewed(held, NOW + 10_000, LEASE_MS).lease_until == NOW + 10_000 + LEASE_MS
    assert renewed(held, NOW - 10_000, LEASE_MS) == held
    assert renewed(held, NOW, LEASE_MS).token == held.token


def history(steps: list[tuple[str, int]]) -> list[Job]:
    """A job's committed states in topic order, as its holders would commit them: created,
    claimed, pages (with their renewals), renewals between pages, claims by other replicas
    after a lapse, and an end."""
    now = NOW
    states = [job()]
    for step, amount in steps:
        last = states[-1]
        now += amount
        if last.status not in ("QUEUED", "RUNNING"):
            break
        if not last.lease_until and step != "claim":
            continue  # released (or never claimed): only a claim comes next
        if step == "claim":
            states.append(claimed(last, f"r{amount % 3}", now, LEASE_MS))
        elif step == "page" and last.owner:
            states.append(
                renewed(
                    replace(
                        last,
                        status="RUNNING",
                        processed_count=last.processed_count + 1 + amount % 50,
                    ),
                    now,
                    LEASE_MS,
                )
            )
        elif step == "renew" and last.owner:
            states.append(renewed(last, now, LEASE_MS))
        elif step == "release" and last.owner:
            states.append(released(last))
        elif step == "end" and last.owner:
            states.append(replace(last, status="COMPLETED" if amount % 2 else "CANCELLED"))
    return states


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "page", "renew", "release", "end"]),
        st.integers(min_value=1, max_value=40_000),
    ),
    max_size=40,
)


@given(STEPS, st.randoms(use_true_random=False))
def test_a_view_fed_states_in_any_order_ends_at_the_last(
    steps: list[tuple[str, int]], rnd: random.Random
) -> None:
    """A replica hears of a job from the topic and from its own commits, late and out of
    order: whatever the order, its view ends at the job's last state and never goes back."""
    states = history(steps)
    shuffled = states[:]
    rnd.shuffle(shuffled)
    view: Job | None = None
    for state in shuffled:
        before = view
        if newer(state, view):
            view = state
        assert before is None or newer(view, before)  # type: ignore[arg-type]
    assert view == states[-1]


@given(STEPS, st.integers(min_value=0, max_value=200_000))
def test_no_replica_claims_a_job_whose_lease_is_live(
    steps: list[tuple[str, int]], later: int
) -> None:
    """At any moment, a job is claimable by some replica exactly when it is active and its
    lease lapsed: never while its holder renews it, never after it ended — and then by every
    replica that looks, so a job whose replica died never stalls."""
    last = history(steps)[-1]
    now = NOW + later
    for replica in ("r0", "r1", "r2", "other"):
        wanted = to_claim([last], set(), replica, now) == [last.id]
        active = last.status in ("QUEUED", "RUNNING")
        assert wanted == (active and (not last.owner or last.lease_until <= now))
