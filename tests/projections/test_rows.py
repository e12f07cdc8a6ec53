"""Records → rows, and rows → API models and re-published records: pure functions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.mappers import (
    data_view,
    headers_object,
    manual_event,
    replayed_request,
)
from projections.params import EventQuery, paginate
from projections.rows import COLUMNS, as_tuple, project, search_text
from router.conversions import request_view
from schemas.bodies import body_view
from schemas.ids import id_time_ms, new_id
from schemas.paging import decode_cursor, encode_cursor
from schemas.times import iso_or_none as iso
from tests.projections.records import (
    GUIDE_BODY,
    attempt_record,
    event_record,
    ignored_record,
    request_record,
)


def test_request_row_keeps_exact_evidence_and_searchable_text() -> None:
    headers = [
        {"name": "Content-Type", "value": "application/x-www-form-urlencoded", "raw": None},
        {"name": "X-Odd", "value": "\xff", "raw": b"\xff"},
    ]
    record = request_record("tm_1", "src_1", GUIDE_BODY + b"\xfe", headers=headers, query="a=%2B1")
    [(table, row)] = project("requests", record["request_id"], record, 0, 0)
    assert table == "requests" and set(row) == set(COLUMNS["requests"])
    assert row["body"] == GUIDE_BODY + b"\xfe"
    assert row["headers"] == [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Odd", "\xff"),
    ]
    assert row["header_raw"] == [b"", b"\xff"]
    assert row["content_type"] == "application/x-www-form-urlencoded"
    search = row["search"]
    assert record["request_id"].lower() in search and "/twilio/status" in search
    assert "smaaaaaaaa" in search and "+18005551212" in search  # decoded form value
    assert "a=+1" in search and "\ufffd" in search  # decoded query; bad byte replaced
    assert len(as_tuple("requests", row)) == len(COLUMNS["requests"])


def test_event_facts_give_each_status() -> None:
    request = request_record("tm_1", "src_1")
    now = request["received_at"]
    queued = event_record(request, at=now)
    [(_, fact), (data_table, data)] = project("events", "", queued, 0, 0)
    assert (fact["fact"], fact["state"], fact["rank"]) == ("CREATED", "QUEUED", 1)
    assert fact["event_time"] == now and data_table == "event_data"
    assert data["body"] == GUIDE_BODY and "messagestatus=delivered" in data["search"]

    delayed = event_record(request, delay_ms=5000, at=now)
    [(_, fact), _] = project("events", "", delayed, 0, 0)
    assert fact["state"] == "SCHEDULED" and fact["next_due_at"] == now + 5000

    released = {**queued, "trigger": "UNPAUSE", "due_at": now + 90_000}
    [(_, fact), _] = project("events", "", released, 0, 0)
    # Released long after it was created: its fact happened at release time.
    assert fact["state"] == "QUEUED" and fact["at"] == now + 90_000

    [(_, held), _] = project("held", "", queued, now + 10, 0)
    assert (held["state"], held["at"], held["rank"]) == ("HOLD", now + 10, 2)

    attempt = attempt_record(
        queued,
        status=None,
        error_code="TIMEOUT",
        event_status="SCHEDULED",
        next_attempt_at=now + 60_000,
    )
    [(table, row), (_, fact)] = project("attempts", "", attempt, 0, 0)
    assert table == "attempts" and row["error_code"] == "TIMEOUT"
    assert (fact["state"], fact["rank"], fact["outcome_error"]) == ("SCHEDULED", 3, "TIMEOUT")
    assert fact["fact_key"] == f"attempt:{attempt['attempt_id']}"


def test_the_same_record_always_gives_the_same_rows() -> None:
    request = request_record("tm_1", "src_1")
    event = event_record(request)
    for kind, record in (
        ("requests", request),
        ("events", event),
        ("held", event),
        ("attempts", attempt_record(event)),
        ("ignored", ignored_record(request)),
    ):
        assert project(kind, "k", record, 5, 7) == project(kind, "k", record, 5, 7)


def test_config_rows_and_tombstones() -> None:
    record = {
        "entity_type": "source",
        "entity_id": "src_1",
        "team_id": "tm_1",
        "version": 3,
        "changed_at": 1,
        "entity": "{}",
    }
    [(_, row)] = project("config", "src_1", record, 0, 41)
    assert (row["offset"], row["is_deleted"], row["version"]) == (41, 0, 3)
    [(_, gone)] = project("config", "src_1", None, 0, 42)
    assert (gone["entity_id"], gone["offset"], gone["is_deleted"]) == ("src_1", 42, 1)


def test_id_times_and_search_cap() -> None:
    assert id_time_ms(new_id("evt", 1_795_000_000_123), 0) == 1_795_000_000_123
    assert id_time_ms("evt_01JYTWILIO", 77) == 77  # not a ULID: the fallback
    assert len(search_text("x" * 2_000_000)) == 1_000_000


def test_models_read_bodies_like_people_do() -> None:
    assert iso(1_795_000_000_007) == "2026-11-18T11:06:40.007Z"
    assert iso(None) is None
    assert headers_object([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]) == {
        "A": "1, 2"
    }


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/cloudevents+json",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "text/plain",
        "application/xml",
        "",
        "APPLICATION/JSON",
    ]
)
FORMISH = st.lists(
    st.sampled_from(
        [
            b"a",
            b"=",
            b"&",
            b"%",
            b"E2",
            b"%9C",
            b"+",
            b"\xff",
            b"NaN",
            b"{",
            b"}",
            b'"x"',
            b":",
            b"1",
            b"[",
            b"]",
        ]
    ),
    max_size=30,
).map(b"".join)


@given(
    body=st.binary(max_size=200) | FORMISH, content_type=CONTENT_TYPES, query=st.text(max_size=40)
)
@settings(max_examples=400, deadline=None)
def test_people_inspect_the_body_and_query_the_filter_saw(
    body: bytes, content_type: str, query: str
) -> None:
    """`data.body`/`data.parsed_query` of the API and the router's filter view are one
    function's output for any bytes and content type."""
    headers = [{"name": "Content-Type", "value": content_type}]
    row = {
        "method": "POST",
        "path": "/p",
        "query": query,
        "headers": headers,
        "body": body,
        "content_type": content_type,
    }
    seen_by_filters = request_view({"headers": headers, "body": body, "path": "/p", "query": query})
    inspected = data_view(row)
    assert inspected["body"] == seen_by_filters["body"]
    assert inspected["body"] == body_view(body, content_type)
    assert inspected["parsed_query"] == seen_by_filters["query"]


def test_republished_records_keep_the_exact_bytes() -> None:
    stored = {
        "event_id": "evt_1",
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "connection_id": "con_1",
        "destination_id": "des_1",
        "source_url": "https://h/x",
        "method": "POST",
        "path": "/p",
        "query": "a=1",
        "headers": [{"name": "X", "value": "\xff"}],
        "header_raw": [b"\xff"],
        "body": b"\x00",
    }
    event = manual_event(stored, attempts=3, now_ms=10)
    assert (event["attempt_number"], event["trigger"], event["due_at"]) == (4, "MANUAL", 10)
    assert event["request"]["headers"] == [{"name": "X", "value": "\xff", "raw": b"\xff"}]
    row = {
        **stored,
        "public_url": "https://h/x",
        "body_size": 1,
        "client_ip": None,
        "verification_method": "NONE",
        "verified": True,
        "verification_detail": None,
        "status": "accepted",
        "rejection_cause": None,
        "replay_of": None,
        "event_type": "push",
        "idempotency_key": "d-1",
    }
    replay = replayed_request(row, "req_2", 11, ["con_9"])
    assert (replay["request_id"], replay["replay_of"], replay["connection_ids"]) == (
        "req_2",
        "req_1",
        ["con_9"],
    )
    assert (replay["event_type"], replay["idempotency_key"]) == ("push", "d-1")
    assert replay["body"] == b"\x00" and replay["received_at"] == 11


def test_pagination_cursors() -> None:
    rows = [{"id": f"evt_{i}"} for i in (5, 4, 3)]
    first = paginate(list(rows), EventQuery(limit=2))
    assert [m["id"] for m in first["models"]] == ["evt_5", "evt_4"]
    assert decode_cursor(first["pagination"]["next"]) == ("lt", "evt_4")
    assert first["pagination"]["prev"] is None
    # A `prev` page is fetched oldest first and shown newest first.
    back = paginate(
        [{"id": "evt_6"}, {"id": "evt_7"}], EventQuery(limit=5, prev=encode_cursor("gt", "evt_5"))
    )
    assert [m["id"] for m in back["models"]] == ["evt_7", "evt_6"]
    assert back["pagination"]["prev"] is None and back["pagination"]["next"] is not None


def test_cli_refuses_unknown_commands() -> None:
    from projections.__main__ import main

    assert main(["bogus"]) == 2
    assert main(["rebuild", "extra"]) == 2
