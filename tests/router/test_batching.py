"""The pure rules of transformation batches (router.batching): how a batch is cut into calls,
what a call that stopped early means for the request it stopped at, and reading its answer."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.batching import (
    BATCH_BYTES,
    Next,
    Stop,
    after_stop,
    batch_key,
    chunk_bounds,
    results_text,
)


@given(st.lists(st.integers(min_value=0, max_value=3000)), st.integers(1, 5000))
def test_calls_cover_every_request_once_in_order_within_the_byte_limit(sizes, limit) -> None:
    bounds = chunk_bounds(sizes, limit)
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(len(sizes)))
    for start, stop in bounds:
        assert stop > start
        # Over the limit only when a single request is larger than it by itself.
        assert sum(sizes[start:stop]) <= limit or stop - start == 1
    # And no call could have taken the next request as well: the calls are as few as greedy.
    for start, stop in bounds[:-1]:
        assert sum(sizes[start : stop + 1]) > limit


def test_the_default_limit_holds_a_megabyte() -> None:
    assert chunk_bounds([BATCH_BYTES // 2] * 3) == [(0, 2), (2, 3)]
    assert chunk_bounds([]) == []


@pytest.mark.parametrize(
    ("completed", "attempted", "stop", "verdict"),
    [
        # A throw is the request's own: it fails, wherever it stood.
        (0, 5, Stop.ERROR, Next.FAIL),
        (3, 5, Stop.ERROR, Next.FAIL),
        # Out of time while running first: it had the whole limit to itself.
        (0, 5, Stop.TIMEOUT, Next.FAIL),
        (0, 1, Stop.TIMEOUT, Next.FAIL),
        # Out of time after others ran in the same call: it runs again, first.
        (2, 5, Stop.TIMEOUT, Next.RETRY),
        # The isolate lost with several requests in the call: nobody knows whose fault.
        (0, 5, Stop.LOST, Next.ONE_BY_ONE),
        # ... with one alone: its own.
        (0, 1, Stop.LOST, Next.FAIL),
    ],
)
def test_the_verdict_on_the_request_a_call_stopped_at(completed, attempted, stop, verdict) -> None:
    assert after_stop(completed, attempted, stop) is verdict


@given(
    st.lists(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_an_answer_is_read_back_line_by_line(outputs) -> None:
    # What the isolate's runner writes: the count, then each output's JSON on a line of its own
    # (ensure_ascii=False: U+2028 and the like are written raw, as JSON.stringify does).
    lines = [json.dumps(o, ensure_ascii=False) for o in outputs]
    answer = f"{len(lines)}\n" + "\n".join(lines)
    assert [json.loads(line) for line in results_text(answer) or []] == outputs


@pytest.mark.parametrize("answer", [None, 3, "", "x\n{}", "2\n{}", "1\n{}\n{}"])
def test_an_answer_the_code_broke_is_not_read(answer) -> None:
    assert results_text(answer) is None


def test_an_output_json_stringify_made_nothing_of_is_an_empty_line() -> None:
    assert results_text("1\n") == [""]
    assert results_text("0\n") == []


def test_requests_share_a_batch_only_with_the_same_team_code_and_env() -> None:
    assert batch_key("tm_a", "c", {"A": "1", "B": "2"}) == batch_key(
        "tm_a", "c", {"B": "2", "A": "1"}
    )
    assert batch_key("tm_a", "c", {}) != batch_key("tm_b", "c", {})
    assert batch_key("tm_a", "c", {}) != batch_key("tm_a", "c", {"A": "1"})
