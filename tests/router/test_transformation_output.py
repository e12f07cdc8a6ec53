"""A transformation's output becomes an event only when it can be sent as built (router.conversions,
router.validation); anything else is refused with the field and the reason."""

from __future__ import annotations

import math
from typing import Any

import pytest
from aiohttp.http_writer import _py_serialize_headers
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from yarl import URL

from router.conversions import apply_transformation, request_view, transformation_input
from router.validation import InvalidOutput
from schemas import limits
from schemas.codec import encode

FORM_BODY = b"MessageSid=SM1&MessageStatus=delivered&ErrorCode="
ORIGINAL = {
    "method": "POST",
    "path": "/twilio/status",
    "query": "tenant=a%20b",
    "headers": [
        {"name": "Content-Type", "value": "application/x-www-form-urlencoded", "raw": None},
        {"name": "X-Twilio-Signature", "value": "abc=", "raw": None},
        {"name": limits.HOP_HEADER, "value": "2", "raw": None},
    ],
    "body": FORM_BODY,
}


def before() -> dict[str, Any]:
    return transformation_input(request_view(ORIGINAL), ORIGINAL)


def transformed(**changes: Any) -> dict[str, Any]:
    return apply_transformation(ORIGINAL, before(), {**before(), **changes})


def refusal(**changes: Any) -> InvalidOutput:
    with pytest.raises(InvalidOutput) as caught:
        transformed(**changes)
    return caught.value


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"headers": {"x": "a\nb"}}, "headers.x", "control"),
        ({"headers": {"x": "a\rb"}}, "headers.x", "control"),
        ({"headers": {"x": "a\x00b"}}, "headers.x", "control"),
        ({"headers": {"x": "\ud800"}}, "headers.x", "Unicode"),
        ({"headers": {"x": {"nested": 1}}}, "headers.x", "string or a number"),
        ({"headers": {"x": True}}, "headers.x", "string or a number"),
        ({"headers": {"bad name": "1"}}, "headers.bad name", "token"),
        ({"headers": {"": "1"}}, "headers.", "token"),
        ({"headers": {"x": "v" * limits.MAX_HEADER_BYTES}}, "headers.x", "bytes"),
        (
            {"headers": {f"h{i}": "1" for i in range(limits.MAX_HEADER_COUNT + 1)}},
            "headers",
            "at most",
        ),
        ({"headers": ["x", "y"]}, "headers", "object"),
        ({"method": "GE T"}, "method", "token"),
        ({"method": 5}, "method", "string"),
        ({"path": "twilio"}, "path", "start with"),
        ({"path": "/a b"}, "path", "space"),
        ({"path": "/a\r\nHost: evil"}, "path", "control"),
        ({"path": None}, "path", "string"),
        ({"path": "/" + "a" * limits.MAX_HEADER_BYTES}, "path", "bytes"),
        ({"query": "a=1 2"}, "query", "space"),
        ({"query": "a=1#x"}, "query", "#"),
        ({"query": ["a"]}, "query", "string"),
        ({"parsed_query": {"a": {"b": "c"}}}, "parsed_query.a", "string"),
        ({"parsed_query": "a=1"}, "parsed_query", "object"),
        ({"body": 5}, "body", "string, an object"),
        ({"body": "\udc80"}, "body", "Unicode"),
        ({"body": {"a": {"b": "c"}}}, "body.a", "form field"),
        ({"body": "x" * (limits.MAX_BODY_BYTES + 1)}, "body", "bytes"),
    ],
)
def test_unsendable_output_is_refused_with_field_and_reason(changes, field, words) -> None:
    refused = refusal(**changes)
    assert refused.field == field
    assert words in refused.reason
    assert str(refused).startswith(f"the transformation's output is invalid: {field}: ")


def test_a_huge_field_name_is_shortened_in_the_reason() -> None:
    refused = refusal(headers={"x" * 2_000_000: "a\nb"})
    assert len(str(refused)) < 400 and refused.field.startswith("headers.xxx")


def test_output_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidOutput) as caught:
        apply_transformation(ORIGINAL, before(), [1, 2])  # type: ignore[arg-type]
    assert caught.value.field == "request"


def test_valid_changes_are_applied() -> None:
    result = transformed(
        method="put",
        path="/v2/status",
        headers={
            **before()["headers"],
            "x-count": 5,
            "x-ratio": 1.5,
            "x-signature": None,
            "x-text": "été\tok",
        },
    )
    assert result["method"] == "PUT" and result["path"] == "/v2/status"
    values = {h["name"].lower(): h["value"] for h in result["headers"]}
    assert values["x-count"] == "5" and values["x-ratio"] == "1.5"
    assert values["x-text"] == "été\tok"
    assert result["body"] == FORM_BODY  # unchanged: kept byte for byte


def test_null_body_is_an_empty_body_and_json_bodies_are_compact() -> None:
    assert transformed(body=None)["body"] == b""
    as_json = apply_transformation(
        ORIGINAL,
        before(),
        {**before(), "headers": {"content-type": "application/json"}, "body": {"a": [1, "é"]}},
    )
    assert as_json["body"] == '{"a":[1,"é"]}'.encode()
    assert transformed(body={"a": ["1", 2]})["body"] == b"a=1&a=2"


def test_headers_left_as_received_are_not_checked_again() -> None:
    # A provider's header decoded from bytes that are control characters in Latin-1.
    odd = {
        **ORIGINAL,
        "headers": [*ORIGINAL["headers"], {"name": "X-Odd", "value": "a\x85b", "raw": b"a\x85b"}],
    }
    start = transformation_input(request_view(odd), odd)
    result = apply_transformation(
        odd, start, {**start, "headers": {**start["headers"], "x-new": "1"}}
    )
    assert {"name": "X-Odd", "value": "a\x85b", "raw": b"a\x85b"} in result["headers"]
    assert {"name": "x-new", "value": "1", "raw": None} in result["headers"]


def test_the_hop_count_cannot_be_changed_or_removed_by_a_transformation() -> None:
    for headers in ({}, {limits.HOP_HEADER: "0"}, {"content-type": "text/plain"}):
        result = transformed(headers=headers)
        assert {"name": limits.HOP_HEADER, "value": "2", "raw": None} in result["headers"]


# -- property: anything a transformation returns is sendable, or refused with a reason --------

text = st.text(
    alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=12
) | st.sampled_from(["/ok", "/a b", "a=1&b=2", "x\r\ny", "GET"])
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(
    ["headers", "path", "method", "query", "parsed_query", "body", "other"]
)
outputs = st.dictionaries(field_names, json_values | st.dictionaries(text, json_values), max_size=6)


def assert_sendable(request: dict[str, Any]) -> None:
    """What aiohttp does with a request before it goes on the wire, and the Avro record."""
    assert isinstance(request["body"], bytes) and len(request["body"]) <= limits.MAX_BODY_BYTES
    url = URL("http://127.0.0.1:9" + request["path"] + "?" + request["query"], encoded=True)
    assert url.path.startswith("/")
    headers: CIMultiDict[str] = CIMultiDict()
    for header in request["headers"]:
        if header["raw"] is None:
            headers.add(header["name"], header["value"])
    status_line = f"{request['method']} {url.raw_path_qs} HTTP/1.1"
    _py_serialize_headers(status_line, headers).decode("utf-8").encode("utf-8")
    assert request["method"].isascii() and request["method"].isupper()
    encode(
        "EventCreated",
        {
            "event_id": "evt_1",
            "request_id": "req_1",
            "team_id": "tm_1",
            "source_id": "src_1",
            "connection_id": "web_1",
            "destination_id": "des_1",
            "created_at": 0,
            "due_at": 0,
            "attempt_number": 1,
            "trigger": "INITIAL",
            "source_url": "http://x",
            "request": request,
            "bulk_id": None,
        },
    )


# The request's own fields changed here and there, or any JSON value at all.
anything = outputs.map(lambda changes: {**before(), **changes}) | json_values


@settings(max_examples=400, deadline=None)
@given(anything)
def test_any_output_is_sendable_or_refused_with_a_reason(output: object) -> None:
    try:
        result = apply_transformation(ORIGINAL, before(), output)
    except InvalidOutput as refused:
        assert refused.field and refused.reason
        return
    assert_sendable(result)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_numbers_that_json_cannot_carry_are_refused(number: float) -> None:
    try:
        result = transformed(headers={"x": number})
    except InvalidOutput as refused:
        assert not math.isfinite(number) and refused.field == "headers.x"
        return
    assert_sendable(result)
