"""`schemas.filter_grammar.validate_filter`'s edges (the API's rule tests hold the rest): depth
bounds everywhere a filter nests, keys that are not strings, and the evaluator's own edges
that only a Python caller can reach."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas import filters
from schemas.filter_grammar import MAX_FILTER_DEPTH, validate_filter
from schemas.filters import matches, request_matches


def nested(leaf: Any, wrap: Any, depth: int = MAX_FILTER_DEPTH + 1) -> Any:
    for _ in range(depth):
        leaf = wrap(leaf)
    return leaf


def too_deep(errors: list[tuple[str, str]]) -> bool:
    return any("nested deeper" in message for _path, message in errors)


def test_every_way_of_nesting_is_bounded() -> None:
    assert too_deep(validate_filter(nested(1, lambda f: [f])))
    assert too_deep(validate_filter({"a": {"$eq": nested(1, lambda v: {"k": v})}}))
    assert too_deep(validate_filter(nested({"$in": [1]}, lambda f: {"$or": [f]})))
    assert too_deep(
        validate_filter(nested({"$or": [{"a": 1}]}, lambda f: {"x": f}, MAX_FILTER_DEPTH - 1))
    )
    assert too_deep(
        validate_filter(nested({"$in": [1, 2]}, lambda f: {"x": f}, MAX_FILTER_DEPTH - 1))
    )
    assert validate_filter(nested(1, lambda f: [f], MAX_FILTER_DEPTH - 1)) == []


def test_an_order_against_a_number_json_has_not_is_refused() -> None:
    assert validate_filter({"a": {"$gt": float("inf")}}) == [("a.$gt", "must be a finite number")]


def test_keys_that_are_not_strings_are_refused_with_their_path() -> None:
    assert validate_filter({1: "a"}) == [("", "object keys must be strings")]
    assert validate_filter({"a": {"$eq": {(1, 2): "x"}}}) == [
        ("a.$eq", "object keys must be strings")
    ]
    # A Python list given as a dict's items: indices are the path.
    assert validate_filter({"a": {"$eq": {0: {"$gt": 1}}}}) == []


def test_the_evaluators_markers_say_what_they_are() -> None:
    assert repr(filters._MISSING) == "<missing>" and repr(filters.INDEX) == "[$index]"


def test_equality_of_values_json_has_no_form_for() -> None:
    assert not filters._eq(filters._MISSING, filters._MISSING)
    assert filters._eq((1, 2), (1, 2)) and not filters._eq((1, 2), (2, 1))


def test_a_referenced_object_matches_an_object_or_a_list_holding_one() -> None:
    rule = {"body": {"got": {"$ref": "body.want"}}}
    want = {"id": 1}
    assert request_matches(rule, {"body": {"want": want, "got": [{"id": 1, "x": 2}]}})
    assert not request_matches(rule, {"body": {"want": want, "got": "id"}})
    assert not request_matches(rule, {"body": {"want": want}})


class _Hostile(dict):
    def get(self, *_args: Any) -> Any:
        raise RuntimeError("a view that cannot be read")


def test_a_view_that_cannot_be_read_matches_nothing_and_raises_nothing() -> None:
    assert not request_matches({"body": {"a": 1}}, _Hostile(body={"a": 1}))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=3),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["a", "$eq", "$in", "$or", "$ref", "$x"]), inner, max_size=3
            )
        ),
        max_leaves=10,
    )
)
def test_an_accepted_filter_is_evaluated_without_raising(candidate: Any) -> None:
    if validate_filter(candidate) == []:
        assert isinstance(matches(candidate, {"a": [1, "x", None]}), bool)
