"""Rules on the provider's view: what filters and the deduplicate key see (pure)."""

from __future__ import annotations

from typing import Any

from router.conversions import provider_fields, request_view, transformation_input
from router.dedupe import dedupe_key
from schemas.filters import request_matches

DEDUPE_BY_KEY = {"type": "deduplicate", "window": 60_000, "include_fields": ["idempotency_key"]}


def request(body: bytes, event_type: str | None, key: str | None) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/",
        "query": "",
        "body": body,
        "headers": [{"name": "Content-Type", "value": "application/json", "raw": None}],
        "event_type": event_type,
        "idempotency_key": key,
    }


def view_of(record: dict[str, Any]) -> dict[str, Any]:
    return request_view(record, provider_fields(record))


def test_an_unnamed_field_is_absent_to_filters() -> None:
    named, unnamed = view_of(request(b"{}", "push", "d-1")), view_of(request(b"{}", None, None))
    assert request_matches({"type": "filter", "event_type": "push"}, named)
    assert not request_matches({"type": "filter", "event_type": "push"}, unnamed)
    absent = {"type": "filter", "idempotency_key": {"$exist": False}}
    assert request_matches(absent, unnamed) and not request_matches(absent, named)


def test_the_key_follows_the_idempotency_key_not_the_body() -> None:
    first = dedupe_key("con_1", DEDUPE_BY_KEY, view_of(request(b'{"a": 1}', "push", "d-1")))
    again = dedupe_key("con_1", DEDUPE_BY_KEY, view_of(request(b'{"a": 2}', "push", "d-1")))
    other = dedupe_key("con_1", DEDUPE_BY_KEY, view_of(request(b'{"a": 1}', "push", "d-2")))
    assert first == again != other


def test_whole_request_keys_do_not_change() -> None:
    # Keys of rules without fields were computed before the provider view existed: a window
    # open across an upgrade still drops the repeat.
    whole = {"type": "deduplicate", "window": 60_000}
    record = request(b'{"a": 1}', "push", "d-1")
    assert dedupe_key("con_1", whole, view_of(record)) == dedupe_key(
        "con_1", whole, request_view(record)
    )


def test_transformations_see_the_request_as_before() -> None:
    record = request(b"{}", "push", "d-1")
    assert "event_type" not in transformation_input(view_of(record), record)
    assert "idempotency_key" not in transformation_input(view_of(record), record)
