"""`router.dedupe`: which requests a deduplicate rule counts as the same, and the window."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from router.dedupe import Seen, Verdict, decide, dedupe_key, duplicate, expired

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


# The window decision (router.dedupe.decide): pure, on the requests' times.

WINDOW = 1_000


def test_the_first_candidate_of_a_key_goes_through_and_is_remembered() -> None:
    verdict = decide(None, "evt_a", 5_000, WINDOW)
    assert verdict == Verdict(Seen(5_000, "evt_a", WINDOW), None)


def test_another_candidate_within_the_window_repeats_the_first() -> None:
    first = Seen(5_000, "evt_a", WINDOW)
    assert decide(first, "evt_b", 5_999, 60_000) == Verdict(None, first)
    # The window is the first candidate's, not the later one's.
    assert decide(first, "evt_b", 6_000, 60_000) == Verdict(Seen(6_000, "evt_b", 60_000), None)


def test_the_same_event_again_goes_through_again_and_is_stored_again() -> None:
    """A re-decision after a crash: the state may already hold the candidate itself."""
    first = Seen(5_000, "evt_a", WINDOW)
    assert decide(first, "evt_a", 5_000, WINDOW) == Verdict(first, None)


candidates = st.lists(
    st.tuples(st.sampled_from(["k1", "k2"]), st.integers(0, 5_000), st.integers(1, 2_000)),
    max_size=30,
)


@given(candidates)
def test_a_candidate_decided_again_on_the_state_it_left_gets_the_same_verdict(
    stream: list[tuple[str, int, int]],
) -> None:
    """Crash after a candidate's state write, before its commit: deciding it again on the
    restored state lets through exactly what went through, and nothing goes through while an
    earlier one of its key is within its window."""
    seen: dict[str, Seen] = {}
    for n, (key, at, window) in enumerate(sorted(stream, key=lambda c: c[1])):
        event_id = f"evt_{n}"
        first = seen.get(key)
        verdict = decide(first, event_id, at, window)
        assert (verdict.remember is None) == (verdict.duplicate_of is not None)
        if verdict.remember is not None:
            assert first is None or at - first.at >= first.window
            seen[key] = verdict.remember
        again = decide(seen.get(key), event_id, at, window)
        assert (again.remember is None) == (verdict.remember is None)
        if again.remember is not None:
            assert again.remember == seen[key]


def test_expired_keys_are_those_whose_window_has_passed() -> None:
    seen = {"old": Seen(1_000, "evt_a", 500), "live": Seen(1_200, "evt_b", 500)}
    assert expired(seen, 1_500) == ["old"]
    assert expired(seen, 1_699) == ["old"]
    assert sorted(expired(seen, 1_700)) == ["live", "old"]
    assert expired({}, 10**12) == []


def test_a_duplicate_is_ignored_naming_the_event_it_repeats() -> None:
    candidate = {
        "event_id": "evt_0123",
        "request_id": "req_1",
        "team_id": "tm_1",
        "source_id": "src_1",
        "connection_id": "web_1",
        "created_at": 7_000,
    }
    ignored = duplicate(candidate, Seen(6_500, "evt_first", WINDOW))
    assert ignored["ignored_id"] == "ign_0123" and ignored["cause"] == "DUPLICATE"
    assert "evt_first" in ignored["detail"] and f"{WINDOW} ms" in ignored["detail"]
    assert ignored["created_at"] == 7_000 and ignored["connection_id"] == "web_1"


def test_a_remembered_candidate_survives_its_trip_through_the_state_topic() -> None:
    seen = Seen(6_500, "evt_first", WINDOW)
    assert Seen.from_json(json.loads(json.dumps(seen.as_json()))) == seen
