"""Hookdeck-compatible filter evaluation (schemas.filters)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.bodies import body_view, parse_query
from schemas.filters import matches, request_matches

FORM = "application/x-www-form-urlencoded"
GUIDE_RULE = {
    "type": "filter",
    "headers": {"x-twilio-signature": {"$exists": True}},
    "path": {"$in": ["/twilio/status", "/messages/status"]},
}


def view(
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    content_type: str | None = FORM,
    query: str = "",
    path: str = "/twilio/status",
) -> dict[str, Any]:
    """A request view as the router builds it (header names lower-cased)."""
    return {
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "body": body_view(body, content_type),
        "query": parse_query(query),
        "path": path,
    }


# -- the guide's Twilio routes -------------------------------------------------------------------


def test_guide_filter_passes_with_header_sent_capitalised() -> None:
    request = view(headers={"X-Twilio-Signature": "abc=", "Content-Type": FORM})
    assert request_matches(GUIDE_RULE, request)
    assert request_matches(GUIDE_RULE, {**request, "path": "/messages/status"})


def test_guide_filter_fails_without_header_or_on_other_path() -> None:
    assert not request_matches(GUIDE_RULE, view(headers={"Content-Type": FORM}))
    signed = {"X-Twilio-Signature": "abc="}
    assert not request_matches(GUIDE_RULE, view(headers=signed, path="/other"))


def test_request_view_headers_not_yet_lower_cased() -> None:
    request = {"headers": {"X-Twilio-Signature": "s"}, "path": "/twilio/status"}
    assert request_matches(GUIDE_RULE, request)


def test_filter_header_names_are_case_insensitive() -> None:
    request = view(headers={"x-twilio-signature": "s", "User-Agent": "TwilioProxy/1.1"})
    rule = {"headers": {"X-Twilio-Signature": {"$exist": True}, "USER-AGENT": "TwilioProxy/1.1"}}
    assert request_matches(rule, request)
    assert request_matches(
        {"headers": {"$or": [{"X-Nope": "1"}, {"User-Agent": "TwilioProxy/1.1"}]}}, request
    )
    assert not request_matches(
        {"headers": {"$not": {"X-TWILIO-SIGNATURE": {"$exists": True}}}}, request
    )


TWILIO_BODY = b"MessageSid=SM1&MessageStatus=failed&ErrorCode=30003&To=%2B1800"
FAILED_RULE = {"type": "filter", "body": {"MessageStatus": {"$in": ["failed", "undelivered"]}}}


def test_form_body_filter_on_twilio_status() -> None:
    assert request_matches(FAILED_RULE, view(body=TWILIO_BODY))
    delivered = b"MessageSid=SM1&MessageStatus=delivered&ErrorCode=&To=%2B1800"
    assert not request_matches(FAILED_RULE, view(body=delivered))
    assert request_matches({"body": {"ErrorCode": "", "To": "+1800"}}, view(body=delivered))
    assert request_matches({"body": {"ErrorCode": {"$exists": True}}}, view(body=delivered))


def test_query_and_rule_parts() -> None:
    request = view(query="tenant=acme&x=1&x=2")
    assert request_matches({"query": {"tenant": "acme", "x": "2"}}, request)
    assert not request_matches({"query": {"tenant": "other"}}, request)
    assert request_matches({"type": "filter"}, request)  # no parts: nothing to check
    assert request_matches({"body": None, "path": "/twilio/status"}, request)
    assert not request_matches({"path": "/twilio/status", "body": {"x": 1}}, request)
    assert not request_matches("nope", request)  # type: ignore[arg-type]


# -- operators -----------------------------------------------------------------------------------

OPERATOR_CASES = [
    ({"$eq": {"a": [1]}}, {"a": [1]}, True),
    ({"$eq": {"a": [1]}}, {"a": [1], "b": 2}, False),
    ({"$eq": 1}, True, False),
    ({"$eq": 1}, 1.0, True),
    ({"$neq": "sent"}, "failed", True),
    ({"$neq": "sent"}, "sent", False),
    ({"$gt": 5}, 6, True),
    ({"$gt": 5}, 5, False),
    ({"$gt": 5}, "6", False),
    ({"$gt": "b"}, "c", True),
    ({"$gt": 5}, [1, 9], True),
    ({"$gte": 5}, 5, True),
    ({"$gte": 5}, 4.9, False),
    ({"$lt": 5}, 4, True),
    ({"$lt": 5}, True, False),
    ({"$lte": "m"}, "m", True),
    ({"$lte": "m"}, "n", False),
    ({"$in": ["a", "b"]}, "b", True),
    ({"$in": ["a", "b"]}, "c", False),
    ({"$in": ["a", "b"]}, ["c", "a"], True),
    ({"$in": "Gift"}, "Gift Card", True),
    ({"$in": "Gift"}, "Card", False),
    ({"$in": "sale"}, ["new", "sale"], True),
    ({"$in": [1]}, True, False),
    ({"$nin": ["a", "b"]}, "c", True),
    ({"$nin": ["a", "b"]}, "a", False),
    ({"$startsWith": "/twilio"}, "/twilio/status", True),
    ({"$startsWith": ["/a", "/twilio"]}, "/twilio/status", True),
    ({"$startsWith": "/twilio"}, "/messages", False),
    ({"$startsWith": "1"}, 12, False),
    ({"$endsWith": "status"}, "/twilio/status", True),
    ({"$endsWith": "status"}, "/twilio/voice", False),
    ({"$exist": True}, None, True),
    ({"$exists": False}, "x", False),
    ({"$or": [{"$eq": 1}, {"$eq": 2}]}, 2, True),
    ({"$or": [{"$eq": 1}, {"$eq": 2}]}, 3, False),
    ({"$and": [{"$gt": 1}, {"$lt": 3}]}, 2, True),
    ({"$and": [{"$gt": 1}, {"$lt": 3}]}, 3, False),
    ({"$not": {"$eq": 1}}, 2, True),
    ({"$not": {"$eq": 1}}, 1, False),
    ({"$bogus": 1}, 1, False),
    ({"$or": "not-a-list"}, 1, False),
]


@pytest.mark.parametrize(("f", "value", "expected"), OPERATOR_CASES)
def test_operators(f: dict, value: object, expected: bool) -> None:
    assert matches(f, value) is expected


def test_scalars_are_strict_and_arrays_contain() -> None:
    assert matches(True, True) and not matches(True, 1) and not matches(1, True)
    assert matches("sale", ["new", "sale"]) and not matches("old", ["new", "sale"])
    assert matches(["a", "b"], ["b", "c", "a"]) and not matches(["a", "d"], ["a", "b"])
    assert not matches(["a"], "a")
    assert matches({"tags": "sale"}, {"tags": ["sale", "new"]})
    assert matches(None, None) and not matches(None, 0)


def test_nested_partial_object_match() -> None:
    data = {"data": {"object": {"status": "paid", "amount": 500, "meta": {"k": "v"}}, "x": 1}}
    assert matches({"data": {"object": {"status": "paid", "amount": {"$gte": 100}}}}, data)
    assert not matches({"data": {"object": {"status": "void"}}}, data)
    assert not matches({"data": {"nope": 1}}, data)
    assert not matches({"data": {"object": {"status": {"k": "v"}}}}, data)
    items = {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}
    assert matches({"items": {"sku": "B", "qty": 2}}, items)
    assert not matches({"items": {"sku": "B", "qty": 1}}, items)  # same element must match


def test_missing_fields() -> None:
    data = {"a": 1}
    assert matches({"b": {"$exist": False}}, data)
    assert not matches({"a": {"$exist": False}}, data)
    assert matches({"b": {"c": {"$exists": False}}}, data)
    for f in ({"$neq": 1}, {"$nin": [1]}, None, [], {}, {"$in": "x"}):
        assert not matches({"b": f}, data)
    assert matches({"b": {"$or": [{"$exist": False}, {"$eq": 2}]}}, data)


def test_field_level_not() -> None:
    f = {"status": {"$not": {"$in": ["sent"]}}}
    assert matches(f, {"status": "failed"})
    assert matches(f, {"status": "delivered"})
    assert not matches(f, {"status": "sent"})
    assert matches(f, {"other": 1})  # not(sent) also holds when the field is absent
    assert matches({"a": {"$not": {"b": 1}}}, {"a": {"b": 2}})


def test_ref() -> None:
    root = {"body": {"expected": "x", "got": "x", "n": [1, {"id": 7}]}, "headers": {"x-a": "x"}}
    assert matches({"body": {"got": {"$ref": "body.expected"}}}, root)
    assert matches({"$ref": "body.n.1.id"}, 7, root=root)
    assert matches({"$ref": "headers.X-A"}, "x", root=root)
    assert not matches({"$ref": "body.n.5"}, 7, root=root)
    assert not matches({"$ref": "body.missing"}, "x", root=root)
    assert not matches({"$ref": 3}, "x", root=root)
    rule = {"body": {"To": {"$ref": "query.to"}}}
    request = view(body=b"To=%2B1800", query="to=%2B1800")
    assert request_matches(rule, request)
    assert not request_matches(rule, view(body=b"To=%2B1800", query="to=1"))


def test_never_raises_on_pathological_input() -> None:
    deep: object = 1
    for _ in range(5000):
        deep = {"$not": deep}
    assert matches(deep, 1) in (True, False)
    assert matches({"a": 1}, object()) is False
    assert request_matches({"headers": 1, "body": {"$gt": []}}, {"headers": None}) is False


# -- properties ----------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(["a", "sent", "failed", "/twilio/status"]),
)
field_names = st.sampled_from(["a", "b", "status"]) | st.text(max_size=3)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(field_names, inner, max_size=4),
    max_leaves=15,
)
operator_names = st.sampled_from(
    [
        "$eq",
        "$neq",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$startsWith",
        "$endsWith",
        "$exist",
        "$exists",
        "$or",
        "$and",
        "$not",
        "$ref",
        "$bogus",
    ]
)


def _filter_nodes(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(field_names | operator_names, inner, max_size=3),
        st.builds(lambda op, arg: {op: arg}, operator_names, inner),
        st.builds(
            lambda op, args: {op: args},
            st.sampled_from(["$and", "$or"]),
            st.lists(inner, max_size=3),
        ),
        st.builds(lambda arg: {"$not": arg}, inner),
        st.builds(lambda b: {"$exists": b}, st.booleans()),
        st.builds(lambda p: {"$ref": p}, st.sampled_from(["a", "a.b", "b.0", "", "status"])),
        st.builds(lambda name, sub: {name: sub}, field_names, inner),
    )


filters = st.recursive(scalars | values, _filter_nodes, max_leaves=12)


@given(filters, values)
def test_not_inverts(f: object, v: object) -> None:
    assert matches({"$not": f}, v) == (not matches(f, v))
    # …also at field level, including on a missing field.
    assert matches({"a": {"$not": f}}, {"a": v}) == (not matches({"a": f}, {"a": v}))
    assert matches({"zz": {"$not": f}}, {}) == (not matches({"zz": f}, {}))


@given(filters, filters, values)
def test_and_or_laws(a: object, b: object, v: object) -> None:
    ma, mb = matches(a, v), matches(b, v)
    assert matches({"$and": [a, b]}, v) == (ma and mb)
    assert matches({"$or": [a, b]}, v) == (ma or mb)
    assert matches({"$and": [a]}, v) == ma == matches({"$or": [a]}, v)
    assert matches({"$and": [a, b]}, v) == matches({"$and": [b, a]}, v)
    assert matches({"$or": [a, b]}, v) == matches({"$or": [b, a]}, v)
    assert matches({"$not": {"$or": [a, b]}}, v) == matches({"$and": [{"$not": a}, {"$not": b}]}, v)
    assert matches({"$not": {"$and": [a, b]}}, v) == matches({"$or": [{"$not": a}, {"$not": b}]}, v)


@settings(max_examples=300)
@given(filters, values, values)
def test_matches_never_raises(f: object, v: object, root: object) -> None:
    assert matches(f, v) in (True, False)
    assert matches(f, v, root=root) in (True, False)
    assert request_matches({"body": f, "query": f, "headers": f, "path": f}, {"body": v}) in (
        True,
        False,
    )


# -- every documented form of Hookdeck's reference library (simple-json-match's readme and
# Hookdeck's filter docs), evaluated as the reference evaluates it ------------------------------

PRODUCT = {
    "product": {"title": "Gift Card", "inventory": 5, "tags": ["gift", "something", "another"]}
}
ORDER = {"order": {"id": 123, "items": [{"id": 456, "title": "My product"}]}}
VARIANTS = {
    "variants": [
        {"updated_at": "2020-05-20", "created_at": "2020-04-20"},
        {"updated_at": "2020-04-20", "created_at": "2020-04-20"},
    ]
}
REFERENCE_EXAMPLES: list[tuple[object, object, bool]] = [
    # (data, filter, the reference's answer)
    ({"id": 123, "title": "A product"}, {"id": 123}, True),
    (True, True, True),
    (True, False, False),
    ({"test": True}, {"test": False}, False),
    ({"type": "order/created", "order": {"id": 123}}, {"type": "order/created"}, True),
    (PRODUCT, {"product": {"inventory": 5}}, True),
    (PRODUCT, {"product": {"tags": "gift"}}, True),
    (PRODUCT, {"product": {"tags": ["gift", "something"]}}, True),
    (PRODUCT, {"product": {"tags": ["gift", "missing"]}}, False),
    (ORDER, {"order": {"items": {"id": 456}}}, True),
    (ORDER, {"order": {"items": {"id": 789}}}, False),
    (PRODUCT, {"product": {"inventory": {"$lte": 10}}}, True),
    (PRODUCT, {"product": {"inventory": {"$gt": 10}}}, False),
    (PRODUCT, {"product": {"inventory": {"$or": [1, 5]}}}, True),
    ({"hello": "world"}, {"$or": [{"hello": "johny"}, {"hello": "mark"}]}, False),
    ({"hello": "world"}, {"$or": [{"hello": "johny"}, {"hello": "world"}]}, True),
    (
        {"updated_at": "2020-04-20", "created_at": "2020-04-20"},
        {"updated_at": {"$ref": "created_at"}},
        True,
    ),
    (
        {"updated_at": "2020-05-20", "created_at": "2020-04-20"},
        {"updated_at": {"$ref": "created_at"}},
        False,
    ),
    (VARIANTS, {"variants": {"updated_at": {"$ref": "variants[$index].created_at"}}}, True),
    (
        {"variants": VARIANTS["variants"][:1]},
        {"variants": {"updated_at": {"$ref": "variants[$index].created_at"}}},
        False,
    ),
    (
        {"inventory": 0, "old_inventory": 10},
        {"inventory": {"$lte": {"$ref": "old_inventory"}}},
        True,
    ),
    (
        {"inventory": 11, "old_inventory": 10},
        {"inventory": {"$lte": {"$ref": "old_inventory"}}},
        False,
    ),
    (
        {"type": "example", "nested": {"array": [1, 2, 3]}},
        {"type": {"$neq": {"$ref": "nested.array[1]"}}},
        True,
    ),
    ({"n": 2, "nested": {"array": [1, 2, 3]}}, {"n": {"$eq": {"$ref": "nested.array[1]"}}}, True),
    ({"s": "abc"}, {"s": {"$in": "b"}}, True),
    ({"s": "abc"}, {"s": {"$nin": "b"}}, False),
    ({"s": "b"}, {"s": {"$in": ["a", "b"]}}, True),
    ({"s": "hello"}, {"s": {"$startsWith": "he", "$endsWith": "lo"}}, True),
    ({"a": 1}, {"a": {}}, False),  # an object filter never matches a scalar
    ({"a": {"b": 1}}, {"a": {}}, True),
    ({"a": None}, {"a": {}}, False),
    ({"a": 1}, {"b": {"$exist": False}}, True),
]


@pytest.mark.parametrize(("data", "f", "expected"), REFERENCE_EXAMPLES)
def test_documented_forms_evaluate_as_the_reference(
    data: object, f: object, expected: bool
) -> None:
    assert matches(f, data) is expected


def test_a_reference_as_a_field_value_follows_the_list_contains_rule() -> None:
    data = {"tags": ["a", "b", "c"], "wanted": "b", "pair": ["c", "a"], "other": "z"}
    assert matches({"tags": {"$ref": "wanted"}}, data)
    assert matches({"tags": {"$ref": "pair"}}, data)
    assert not matches({"tags": {"$ref": "other"}}, data)
    # An object found by reference is matched partially, its "$" keys as data, not operators.
    data = {"user": {"id": 1, "name": "x"}, "expected": {"id": 1}, "hostile": {"$exist": False}}
    assert matches({"user": {"$ref": "expected"}}, data)
    assert not matches({"user": {"$ref": "hostile"}}, data)


def test_a_reference_to_nothing_never_matches() -> None:
    data = {"a": 1, "list": [1]}
    for f in (
        {"a": {"$ref": "nope"}},
        {"a": {"$eq": {"$ref": "nope"}}},
        {"a": {"$neq": {"$ref": "nope"}}},
        {"a": {"$gt": {"$ref": "list[5]"}}},
        {"a": {"$ref": "a[$index]"}},
        {"a": {"$in": {"$ref": "nope"}}},
    ):
        assert not matches(f, data), f


def test_nested_index_references_take_the_enclosing_lists_in_order() -> None:
    data = {
        "groups": [{"items": [{"v": 1}, {"v": 2}]}, {"items": [{"v": 3}]}],
        "limits": [[1, 2], [3]],
    }
    f = {"groups": {"items": {"v": {"$eq": {"$ref": "limits[$index][$index]"}}}}}
    assert matches(f, data)
    data["limits"] = [[9, 9], [9]]
    assert not matches(f, data)


def test_request_references_read_the_part_or_the_whole_request() -> None:
    request = view(
        headers={"X-Expected": "delivered"},
        body=b'{"status": "delivered", "previous": {"status": "sent"}}',
        content_type="application/json",
    )
    # From the part being filtered (Hookdeck's form), from the whole request (FastHook's).
    assert request_matches({"body": {"status": {"$neq": {"$ref": "previous.status"}}}}, request)
    assert request_matches({"body": {"status": {"$ref": "headers.X-Expected"}}}, request)
    assert request_matches({"headers": {"x-expected": {"$ref": "body.status"}}}, request)
    assert request_matches({"headers": {"x-expected": {"$ref": "X-EXPECTED"}}}, request)
    assert not request_matches({"body": {"status": {"$ref": "previous.status"}}}, request)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=3),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
        max_leaves=12,
    ),
    st.text(max_size=12),
)
@settings(max_examples=300, deadline=None)
def test_references_never_raise(data: object, path: str) -> None:
    for f in ({"$ref": path}, {"a": {"$gt": {"$ref": path}}}, {"$in": {"$ref": path}}):
        assert matches(f, data) in (True, False)
