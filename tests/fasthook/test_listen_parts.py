"""The pure parts of `fasthook listen`: naming, rules, targets, reconnect delays, keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from api.models import Name
from deliverer.outgoing import Outcome
from fasthook.listen.client import BACKOFF_MAX_S, backoff_s, catch_up_query
from fasthook.listen.forward import (
    Forwarded,
    answer_frame,
    answer_head,
    local_base,
    local_port,
    request_of,
)
from fasthook.listen.output import ROWS_KEPT, Interactive, keys_of, moved
from fasthook.listen.provision import (
    DEFAULT_RETRY,
    clean_name,
    filter_rule,
    merged_rules,
    session_name,
)

NAMES = TypeAdapter(Name)


def test_session_names_say_who_where_and_which_port():
    assert session_name(3000, user="ada", host="laptop.local") == "cli-ada-laptop-3000"
    assert session_name(None, user="a b", host="x") == "cli-a b-x"


@given(st.text())
def test_any_text_becomes_a_valid_name(text):
    NAMES.validate_python(clean_name(text))


def test_the_session_owns_the_filter_and_keeps_the_other_rules():
    wanted = filter_rule({"MessageStatus": "failed"}, None)
    assert merged_rules(None, wanted) == [wanted, DEFAULT_RETRY]
    assert merged_rules(None, None) == [DEFAULT_RETRY]
    delay = {"type": "delay", "delay": 100}
    old = {"type": "filter", "body": {"a": 1}}
    assert merged_rules([old, delay], None) == [delay]
    assert merged_rules([old, delay], wanted) == [wanted, delay]
    assert merged_rules([], None) == []  # the user removed the retry rule: it stays removed


@pytest.mark.parametrize(
    "target, base, port",
    [
        ("3000", "http://localhost:3000", 3000),
        ("127.0.0.1:8000/", "http://127.0.0.1:8000", 8000),
        ("http://localhost:9000/hooks/", "http://localhost:9000/hooks", 9000),
        ("https://dev.local", "https://dev.local", 443),
    ],
)
def test_targets(target, base, port):
    assert local_base(target) == base
    assert local_port(target) == port


def test_frames_keep_header_bytes_and_body():
    frame = {
        "id": 3,
        "method": "POST",
        "path": "/a?b=1",
        "headers": [["X-Utf8", "é".encode().decode("latin-1")], ["X-Raw", "\xff"]],
        "body": "AAEC",
    }
    request = request_of(frame, "http://localhost:1")
    assert request.url == "http://localhost:1/a?b=1"
    assert request.headers == [("X-Utf8", "é"), ("X-Raw", b"\xff")]
    assert request.body == b"\x00\x01\x02"
    assert (
        answer_frame(3, Outcome(None, error_code="CONNECTION_REFUSED", error="no"))["error_code"]
        == "CONNECTION_REFUSED"
    )
    assert answer_frame(3, Outcome(200, [("A", "b")], b"ok", 2))["body"] == "b2s="


def test_binary_frames_carry_the_body_as_bytes():
    frame = {"id": 4, "method": "POST", "path": "/", "headers": [], "body": b"\xff\x00"}
    assert request_of(frame, "http://localhost:1").body == b"\xff\x00"
    head = answer_head(4, Outcome(200, [("A", "b")], b"ok", 2))
    assert "body" not in head and head["status"] == 200 and head["headers"] == [["A", "b"]]


def record(n: int) -> Forwarded:
    return Forwarded(
        event_id=f"evt_{n}",
        request_id="req",
        attempt="1",
        method="POST",
        path="/",
        url="http://localhost:1/",
        request_headers=[],
        request_body=b"",
        local_status=200,
        latency_ms=1,
        error_code=None,
        error=None,
    )


def test_the_interactive_list_keeps_the_newest_events_and_the_selection():
    async def retry(event_id: str) -> str:
        return event_id

    shown = Interactive(retry, console_url=str, quit_=lambda: None, spawn=lambda work: None)
    for n in range(ROWS_KEPT):
        shown.forwarded(record(n))
    shown.act("up")
    chosen = shown.rows[shown.selected]
    for n in range(ROWS_KEPT, ROWS_KEPT + 10):
        shown.forwarded(record(n))
    assert len(shown.rows) == ROWS_KEPT and shown.rows[-1].event_id == f"evt_{ROWS_KEPT + 9}"
    assert shown.rows[shown.selected] is chosen  # the selected event stays selected


@given(st.integers(min_value=1, max_value=100), st.floats(min_value=0, max_value=0.999))
def test_backoff_grows_and_stays_bounded(failures, jitter):
    delay = backoff_s(failures, jitter)
    assert 0 < delay <= BACKOFF_MAX_S * 1.25
    assert backoff_s(failures + 1, jitter) >= delay


def test_the_catch_up_asks_for_this_destinations_disconnected_failures():
    query = catch_up_query("des_1", 0)
    assert query == {
        "destination_id": "des_1",
        "status": "FAILED",
        "error_code": "CLI_DISCONNECTED",
        "created_at[gte]": "1970-01-01T00:00:00.000Z",
    }


def test_keys():
    assert keys_of("\x1b[Ajrq") == ["up", "down", "retry", "quit"]
    assert keys_of("xd\x1b[Bo") == ["data", "down", "open"]


@given(st.integers(min_value=0, max_value=20), st.lists(st.sampled_from(["up", "down"])))
def test_the_selection_stays_on_a_row(count, actions):
    selected = None
    for action in actions:
        selected = moved(selected, count, action)
        assert selected is None or 0 <= selected < count
    assert moved(None, 5, "up") == 3
    assert moved(3, 5, "down") is None  # back to following the newest
