"""The hop count a request carries (schemas.limits.hop_count) and what the router does at the
limit: every connection's outcome is ignored with cause LOOP_DETECTED."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.connections import Connection
from router.routing import Ignored, route
from schemas.limits import HOP_HEADER, MAX_HOPS, hop_count


def headers(*pairs: tuple[str, str]) -> list[dict]:
    return [{"name": name, "value": value, "raw": None} for name, value in pairs]


@pytest.mark.parametrize(
    ("given_headers", "count"),
    [
        (headers(), 0),
        (headers(("Content-Type", "text/plain")), 0),
        (headers((HOP_HEADER, "3")), 3),
        (headers(("X-FastHook-Hops", " 4 ")), 4),
        (headers((HOP_HEADER, "x")), 0),
        (headers((HOP_HEADER, "-2")), 0),
        (headers((HOP_HEADER, "1.5")), 0),
        (headers((HOP_HEADER, "")), 0),
        (headers((HOP_HEADER, "²")), 0),
        (headers((HOP_HEADER, "1"), (HOP_HEADER, "7")), 7),
        (headers((HOP_HEADER, "0" * 30 + "6")), 6),
        (headers((HOP_HEADER, "9" * 5000)), 10**18),
    ],
)
def test_hop_count_absent_or_not_an_integer_is_zero(given_headers, count) -> None:
    assert hop_count(given_headers) == count


@given(
    st.lists(st.tuples(st.sampled_from([HOP_HEADER, "x-other"]), st.text(max_size=8)), max_size=4)
)
def test_hop_count_never_raises_and_is_never_negative(pairs) -> None:
    assert hop_count(headers(*pairs)) >= 0


REQUEST = {
    "request_id": "req_1",
    "team_id": "tm_1",
    "source_id": "src_1",
    "received_at": 1,
    "public_url": "http://x/s",
    "method": "POST",
    "path": "/",
    "query": "",
    "body": b"",
    "headers": [],
}
CONNECTION = Connection(
    id="web_1",
    name="c",
    team_id="tm_1",
    source_id="src_1",
    destination_id="des_1",
    rules=(),
    enabled=True,
)


async def no_transform(*_args):
    raise AssertionError("not called")


async def test_at_the_hop_limit_every_connection_is_loop_detected() -> None:
    looping = {**REQUEST, "headers": headers((HOP_HEADER, str(MAX_HOPS)))}
    outcome = await route(looping, CONNECTION, True, no_transform, 5)
    assert isinstance(outcome, Ignored)
    assert outcome.record["cause"] == "LOOP_DETECTED"
    assert str(MAX_HOPS) in outcome.record["detail"] and HOP_HEADER in outcome.record["detail"]


async def test_below_the_hop_limit_the_request_is_routed() -> None:
    below = {**REQUEST, "headers": headers((HOP_HEADER, str(MAX_HOPS - 1)))}
    outcome = await route(below, CONNECTION, True, no_transform, 5)
    assert not isinstance(outcome, Ignored)
