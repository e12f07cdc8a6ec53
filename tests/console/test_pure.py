"""The console's pure decisions: sessions and CSRF, URL filters → API parameters, bodies,
the Twilio glance, API errors placed at form fields, the live tail's window."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from console.forms import (
    connection_body,
    entity_body,
    entity_errors,
    entity_values,
    field_errors,
    rule_summary,
)
from console.session import Sealer, Session, csrf_ok, new_session, same_origin
from console.tail import Tail
from console.views import (
    EVENT_FILTERS,
    api_params,
    body_view,
    bulk_query,
    filters_from,
    link,
    page_params,
    twilio_glance,
)
from runtime.secrets import generate_key

KEY = generate_key()


def test_a_session_opens_only_with_the_same_secret_and_within_its_age():
    sealer = Sealer(KEY, 3600)
    session = new_session("fhp_secret", [("tm_1", "acme"), ("tm_2", "zeta")])
    sealed = sealer.seal(session)
    assert "fhp_secret" not in sealed  # ciphertext only
    assert sealer.open(sealed) == session
    assert Sealer(generate_key(), 3600).open(sealed) is None
    assert sealer.open(sealed[:-4] + "AAAA") is None
    assert sealer.open(None) is None and sealer.open("garbage") is None
    assert Sealer(KEY, -1).open(sealed) is None  # expired


def test_team_switch_only_to_a_served_team():
    session = new_session("k", [("tm_1", "acme"), ("tm_2", "zeta")])
    assert session.team_id == "tm_1"
    assert session.with_team("tm_2").team_name == "zeta"
    try:
        session.with_team("tm_3")
    except ValueError:
        pass
    else:
        raise AssertionError("switched to a team the key does not serve")


def test_csrf_and_origin_checks():
    session = Session("k", "tm", "acme", (("tm", "acme"),), "token")
    assert csrf_ok(session, "token")
    assert not csrf_ok(session, None) and not csrf_ok(session, "other")
    assert same_origin("http://127.0.0.1:8086", "127.0.0.1:8086")
    assert same_origin(None, "127.0.0.1:8086")
    assert not same_origin("http://evil.example", "127.0.0.1:8086")
    assert not same_origin("null", "127.0.0.1:8086")


def test_filters_become_api_parameters_and_cursors_do_not_carry_over():
    query = {
        "status": "FAILED",
        "q": " SM1 ",
        "from": "2026-01-02T03:04",
        "unknown": "x",
        "source_id": "",
        "next": "abc",
    }
    filters = filters_from(query, EVENT_FILTERS)
    assert filters == {"status": "FAILED", "q": "SM1", "from": "2026-01-02T03:04"}
    assert api_params(filters, EVENT_FILTERS) == {
        "status": "FAILED",
        "q": "SM1",
        "created_at[gte]": "2026-01-02T03:04:00",
    }
    assert page_params(query, EVENT_FILTERS, 25)["next"] == "abc"
    assert dict(parse_qsl(link(filters, status=None, prev="p")[1:])) == {
        "q": "SM1",
        "from": "2026-01-02T03:04",
        "prev": "p",
    }
    assert link({}) == "?"


def test_sort_and_attempts_reach_the_api_but_a_bulk_query_takes_no_sort():
    query = {"attempts_min": "2", "attempts_max": "5", "sort": "last_attempt_at"}
    filters = filters_from(query, EVENT_FILTERS)
    assert api_params(filters, EVENT_FILTERS) == {
        "attempts[gte]": "2",
        "attempts[lte]": "5",
        "order_by": "last_attempt_at",
    }
    assert bulk_query(filters, EVENT_FILTERS) == {"attempts[gte]": "2", "attempts[lte]": "5"}


@given(
    st.dictionaries(
        st.sampled_from(sorted(EVENT_FILTERS)),
        st.text(min_size=1).filter(lambda s: s.strip() == s and "\x00" not in s),
        max_size=6,
    )
)
def test_a_deep_link_round_trips_its_filters(filters):
    """Filters → URL → filters: what a bookmarked or shared page shows again."""
    assert (
        filters_from(dict(parse_qsl(link(filters)[1:], keep_blank_values=True)), EVENT_FILTERS)
        == filters
    )


def test_bodies_are_shown_by_kind_and_keep_their_exact_bytes():
    form = body_view(b"B=2&A=1&A=&C=%2B1", "application/x-www-form-urlencoded; charset=utf-8")
    assert form.kind == "form" and form.fields == [("B", "2"), ("A", "1"), ("A", ""), ("C", "+1")]
    assert form.text == "B=2&A=1&A=&C=%2B1"
    data = body_view(b'{"b":1,"a":[1]}', "application/json")
    assert data.kind == "json" and data.pretty == '{\n  "b": 1,\n  "a": [\n    1\n  ]\n}'
    assert body_view(b"{nope", "application/json").kind == "text"
    assert body_view(b"\xff\x00", "application/octet-stream").kind == "binary"
    assert body_view(b"", "text/plain").kind == "empty"


@given(
    st.binary(max_size=300),
    st.sampled_from(
        ["application/x-www-form-urlencoded", "application/json", "text/plain", "image/png"]
    ),
)
def test_any_body_is_shown_without_error(raw, content_type):
    body = body_view(raw, content_type)
    assert body.text.encode("utf-8", errors="surrogateescape") is not None
    if raw and body.kind != "binary":
        assert body.text == raw.decode("utf-8")


def test_twilio_fields_at_a_glance():
    fields = [
        ("To", "+1"),
        ("MessageStatus", "failed"),
        ("ErrorCode", "30003"),
        ("MessageSid", "SM1"),
        ("Other", "x"),
    ]
    assert twilio_glance(fields) == [
        ("MessageSid", "SM1"),
        ("MessageStatus", "failed"),
        ("ErrorCode", "30003"),
        ("To", "+1"),
    ]
    assert twilio_glance([("foo", "bar")]) == []


def test_api_errors_land_at_their_fields():
    errors = field_errors(
        [
            {"path": "rules[0].path.$inn", "message": "unknown operator"},
            {"path": "name", "message": "taken"},
            {"path": "config.url", "message": "not a URL"},
            {"path": "", "message": "whole form"},
        ],
        ("name", "rules", "config.url", "config"),
    )
    assert errors == {
        "rules": ["[0].path.$inn: unknown operator"],
        "name": ["taken"],
        "config.url": ["not a URL"],
        "_form": ["whole form"],
    }


def test_connection_editor_body_keeps_a_paused_connection_paused():
    body, errors = connection_body(
        {
            "name": "c",
            "source_id": "src_1",
            "destination_id": "des_1",
            "rules": '[{"type": "filter"}]',
        },
        "paused",
    )
    assert errors == {} and body["status"] == "enabled" and body["rules"] == [{"type": "filter"}]
    body, errors = connection_body({"name": "c", "rules": "[nope"}, "disabled")
    assert body["status"] == "disabled" and "not JSON" in errors["rules"][0]
    assert rule_summary({"type": "delay", "delay": 500}) == "delay: 500 ms"
    summary = rule_summary({"type": "filter", "path": {"$in": ["/a"]}, "body": None})
    assert summary == 'filter: path {"$in":["/a"]}'


def _row(i: str, status: str = "QUEUED") -> dict:
    return {"id": i, "status": status}


def test_the_tail_sends_new_and_changed_rows_oldest_first():
    tail = Tail("evt_2")  # the page showed evt_2 and older
    assert not tail.reached([_row("evt_4"), _row("evt_3")])
    assert tail.reached([_row("evt_3"), _row("evt_2")])
    assert [r["id"] for r in tail.take([_row("evt_4"), _row("evt_3"), _row("evt_2")])] == [
        "evt_3",
        "evt_4",
    ]
    assert tail.after == "evt_4"
    assert tail.take([_row("evt_4"), _row("evt_3")]) == []  # nothing new
    assert [r["id"] for r in tail.take([_row("evt_4"), _row("evt_35")])] == ["evt_35"]  # late
    changed = tail.take([_row("evt_5"), _row("evt_3", "SUCCESSFUL"), _row("evt_2", "FAILED")])
    assert [(r["id"], r["status"]) for r in changed] == [
        ("evt_3", "SUCCESSFUL"),
        ("evt_5", "QUEUED"),
    ]
    # A first tail on an empty page sends whatever exists.
    assert [r["id"] for r in Tail().take([_row("evt_1")])] == ["evt_1"]


@given(st.lists(st.integers(0, 60), max_size=40), st.lists(st.integers(0, 60), max_size=40))
def test_every_new_id_is_sent_once(first, second):
    tail = Tail("evt_20")
    sent = [
        r["id"]
        for batch in (first, second)
        for r in tail.take([_row(f"evt_{n:02d}") for n in sorted(set(batch), reverse=True)])
    ]
    assert len(sent) == len(set(sent))
    assert set(sent) == {f"evt_{n:02d}" for n in first + second if n > 20}


def test_the_tail_forgets_old_ids_without_sending_them_again():
    tail = Tail()
    tail.take([_row(f"evt_{n:05d}") for n in range(2500)])
    assert len(tail.seen) == 2000 and tail.floor == "evt_00500"
    assert tail.take([_row("evt_00001"), _row("evt_00499")]) == []


def test_an_edited_entity_keeps_its_settings_and_asks_for_its_secret_again():
    destination = {
        "type": "HTTP",
        "status": "disabled",
        "name": "d",
        "config": {"url": "http://a/x", "auth_type": "BEARER_TOKEN", "auth": {}, "rate_limit": 5},
    }
    assert entity_values("destinations", destination)["url"] == "http://a/x"
    form = {"name": " d2 ", "description": "", "url": "http://b/y", "http_method": ""}
    body, errors = entity_body("destinations", form, destination)
    assert ("secret" in errors and "auth" not in body["config"]) or not body["config"]["auth"]
    body, errors = entity_body("destinations", {**form, "secret": "tok"}, destination)
    assert errors == {}
    assert body == {
        "name": "d2",
        "description": None,
        "status": "disabled",
        "type": "HTTP",
        "config": {
            "url": "http://b/y",
            "http_method": None,
            "path_forwarding": False,
            "auth_type": "BEARER_TOKEN",
            "auth": {"token": "tok"},
            "rate_limit": 5,
        },
    }
    source = {"status": "enabled", "config": {"auth_type": None, "allowed_http_methods": ["POST"]}}
    body, errors = entity_body(
        "sources", {"name": "s", "allowed_http_methods": "post, get"}, source
    )
    assert errors == {} and body["config"]["allowed_http_methods"] == ["POST", "GET"]
    assert entity_errors(
        [
            {"path": "config.url", "message": "bad"},
            {"path": "config.allowed_http_methods.1", "message": "no"},
            {"path": "", "message": "all"},
        ]
    ) == {"url": ["bad"], "allowed_http_methods": ["1: no"], "_form": ["all"]}
