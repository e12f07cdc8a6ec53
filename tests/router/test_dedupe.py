"""`router.dedupe.dedupe_key`: which requests a deduplicate rule counts as the same."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from router.dedupe import dedupe_key

VIEW: dict[str, Any] = {
    "headers": {"content-type": "application/json", "x-shopify-webhook-id": "w-1"},
    "body": {"id": "ord_1", "status": "paid", "meta": {"sent_at": "10:00"}},
    "path": "/orders",
    "query": {"shop": "a"},
    "event_type": "orders/paid",
    "idempotency_key": "w-1",
}


def key(rule: dict[str, Any], view: dict[str, Any] = VIEW, connection: str = "web_1") -> str:
    return dedupe_key(connection, rule, view)


def changed(**parts: Any) -> dict[str, Any]:
    return {**VIEW, **parts}


def test_the_key_is_per_connection() -> None:
    assert key({}).startswith("web_1:") and key({}, connection="web_2").startswith("web_2:")
    assert key({}).split(":")[1] == key({}, connection="web_2").split(":")[1]


def test_no_fields_named_compares_the_whole_request_but_not_the_provider_fields() -> None:
    assert key({}) == key({}, changed(event_type="other", idempotency_key="other"))
    assert key({}) != key({}, changed(path="/elsewhere"))
    assert key({}) != key({}, changed(body={**VIEW["body"], "status": "refunded"}))


def test_included_fields_alone_count() -> None:
    rule = {"include_fields": ["body.id", "body.meta.sent_at"]}
    assert key(rule) == key(rule, changed(body={**VIEW["body"], "status": "refunded"}))
    assert key(rule) != key(rule, changed(body={**VIEW["body"], "id": "ord_2"}))


def test_provider_fields_are_named_without_a_path() -> None:
    rule = {"include_fields": ["idempotency_key"]}
    assert key(rule) == key(rule, changed(body={}, path="/x"))
    assert key(rule) != key(rule, changed(idempotency_key="w-2"))


def test_header_names_are_matched_whatever_their_case() -> None:
    rule = {"include_fields": ["headers.X-Shopify-Webhook-Id"]}
    other = changed(headers={**VIEW["headers"], "x-shopify-webhook-id": "w-2"})
    assert key(rule) != key(rule, other)
    excluded = {"exclude_fields": ["headers.X-Shopify-Webhook-Id"]}
    assert key(excluded) == key(excluded, other)


def test_a_missing_field_counts_as_null_whatever_path_leads_to_it() -> None:
    rule = {"include_fields": ["body.nothing", "body.id.deeper"]}
    assert key(rule) == key(rule, changed(body={"id": "ord_9"}))
    null = {"include_fields": ["body.gone"]}
    assert key(null) == key(null, changed(body={"gone": None}))


def test_excluding_a_path_through_a_missing_or_scalar_parent_changes_nothing() -> None:
    rule = {"exclude_fields": ["body.none.deeper", "body.id.deeper", "query.shop.x"]}
    assert key(rule) == key({"exclude_fields": ["nothing.at_all"]})
    assert key(rule) == key({})


@given(
    st.dictionaries(
        st.sampled_from(["type", "total", "id"]),
        st.one_of(st.integers(), st.text(max_size=5)),
        max_size=3,
    )
)
def test_the_key_ignores_what_the_rule_excludes(extra: dict[str, Any]) -> None:
    view = {"headers": {}, "body": {"n": 1, **extra}, "path": "/", "query": {}}
    rule = {"exclude_fields": [f"body.{name}" for name in ("type", "total", "id")]}
    assert key(rule, view) == key(rule, {**view, "body": {"n": 1}})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=4),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=8,
    ),
    st.lists(st.text(alphabet="ab.", max_size=5), max_size=3),
)
def test_any_body_and_any_paths_give_a_key(body: Any, paths: list[str]) -> None:
    view = changed(body=body)
    for rule in ({}, {"include_fields": paths}, {"exclude_fields": paths}):
        assert key(rule, view) == key(rule, view)
