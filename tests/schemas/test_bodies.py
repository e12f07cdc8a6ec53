"""How filters see request bodies and raw query strings (schemas.bodies)."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from schemas.bodies import body_view, parse_query

FORM = "application/x-www-form-urlencoded"
TWILIO_BODY = b"MessageSid=SM1&MessageStatus=failed&ErrorCode=30003&To=%2B1800"


def test_twilio_form_body_becomes_object_of_strings() -> None:
    assert body_view(TWILIO_BODY, FORM) == {
        "MessageSid": "SM1",
        "MessageStatus": "failed",
        "ErrorCode": "30003",
        "To": "+1800",
    }


def test_form_with_charset_param_and_blank_values_kept() -> None:
    body = b"MessageStatus=delivered&ErrorCode=&Flag"
    parsed = body_view(body, "Application/X-WWW-Form-Urlencoded; charset=UTF-8")
    assert parsed == {"MessageStatus": "delivered", "ErrorCode": "", "Flag": ""}


def test_form_repeated_keys_plus_and_percent() -> None:
    body = b"a=1&b=x+y&a=2&a=&c=%C3%A9%20z%2B&&"
    assert body_view(body, FORM) == {"a": ["1", "2", ""], "b": "x y", "c": "é z+"}


def test_form_invalid_utf8_falls_back_to_replaced_string() -> None:
    body = b"a=%FF&b=1"
    assert body_view(body, FORM) == "a=%FF&b=1"
    raw = b"a=\xff"
    assert body_view(raw, FORM) == "a=\ufffd"


def test_empty_form_is_empty_object() -> None:
    assert body_view(b"", FORM) == {}


def test_json_types_parse() -> None:
    assert body_view(b'{"a": [1, true]}', "application/json") == {"a": [1, True]}
    assert body_view(b"[1]", "application/cloudevents-batch+json") == [1]
    assert body_view(b'"x"', "application/json; charset=utf-8") == "x"
    assert body_view(b'\xef\xbb\xbf{"a":1}', "application/json") == {"a": 1}


def test_json_that_does_not_parse_is_a_string() -> None:
    assert body_view(b"{nope", "application/json") == "{nope"
    assert body_view(b"NaN", "application/json") == "NaN"
    assert body_view(b"", "application/json") == ""
    assert body_view(b'"\xff"', "application/json") == '"\ufffd"'
    deep = b"[" * 100_000 + b"]" * 100_000
    assert body_view(deep, "application/json") == deep.decode()


def test_other_types_are_strings() -> None:
    assert body_view(b'{"a":1}', None) == '{"a":1}'
    assert body_view(b"<x/>", "text/xml") == "<x/>"
    assert body_view(b"a=1", "text/plain") == "a=1"
    assert body_view(b"\xff", "application/octet-stream") == "\ufffd"


def test_parse_query() -> None:
    assert parse_query("x=1&y=&x=2&z=a+b%26") == {"x": ["1", "2"], "y": "", "z": "a b&"}
    assert parse_query("") == {}
    # The query part must stay an object: bad UTF-8 is replaced value by value.
    assert parse_query("a=%FF&b=ok") == {"a": "\ufffd", "b": "ok"}
    assert parse_query("\udcff=1") == {"\ufffd": "1"}


# -- properties --------------------------------------------------------------------------------

content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [FORM, f"{FORM}; charset=UTF-8", "application/json", "application/vnd.x+json", "text/plain"]
    ),
    st.text(max_size=30),
)


@given(st.binary(max_size=300), content_types)
def test_body_view_never_raises(body: bytes, content_type: str | None) -> None:
    result = body_view(body, content_type)
    if content_type is not None and content_type.lower().startswith(FORM):
        assert isinstance(result, dict | str)


@given(st.text(max_size=200))
def test_parse_query_never_raises(query: str) -> None:
    assert isinstance(parse_query(query), dict)


# Lone surrogates cannot be sent as UTF-8 at all, so they are not part of the round trip.
form_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@given(st.dictionaries(form_text, form_text, max_size=8))
def test_form_round_trip(fields: dict[str, str]) -> None:
    encoded = urlencode(fields).encode()
    assert body_view(encoded, FORM) == fields
    assert parse_query(encoded.decode()) == fields


@given(st.dictionaries(form_text, st.lists(form_text, min_size=2, max_size=4), max_size=5))
def test_form_round_trip_repeated_keys(fields: dict[str, list[str]]) -> None:
    encoded = urlencode(fields, doseq=True).encode()
    assert body_view(encoded, FORM) == fields


def test_a_form_over_the_field_cap_is_seen_as_a_string() -> None:
    from schemas.limits import MAX_FORM_FIELDS

    at_cap = "&".join(f"f{i}=v" for i in range(MAX_FORM_FIELDS)).encode()
    assert len(body_view(at_cap, FORM)) == MAX_FORM_FIELDS
    over = at_cap + b"&last=v"
    assert body_view(over, FORM) == over.decode()
    # Empty pairs are not fields: they neither count nor cost a parse.
    assert body_view(b"&" * 5_000_000 + b"a=1", FORM) == {"a": "1"}


def test_a_query_over_the_field_cap_keeps_its_first_fields() -> None:
    from schemas.limits import MAX_FORM_FIELDS

    query = "&".join(f"f{i}=v" for i in range(MAX_FORM_FIELDS + 5))
    parsed = parse_query(query)
    assert len(parsed) == MAX_FORM_FIELDS and "f0" in parsed


def test_other_buffers_and_text_are_read_like_bytes() -> None:
    assert body_view(bytearray(b'{"a": 1}'), "application/json") == {"a": 1}
    assert body_view(memoryview(b"a=1"), "application/x-www-form-urlencoded") == {"a": "1"}
    assert body_view("plain", None) == "plain"
    assert body_view(12, None) == ""
    assert parse_query(b"a=1&b=2") == {"a": "1", "b": "2"}


def test_text_with_lone_surrogates_is_still_read() -> None:
    assert parse_query("a=\udce9") == {"a": "\ufffd"}  # an undecodable byte, escaped upstream
    assert parse_query("a=\ud800") == {"a": "?"}  # not even that: replaced


def test_a_body_or_query_that_cannot_be_read_at_all_is_empty() -> None:
    released = memoryview(b"a=1")
    released.release()
    assert body_view(released, None) == ""
    assert parse_query(released) == {}
