"""The provider-aware view: event type and idempotency key from what each provider sends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.providers import MAX_VALUE_CHARS, provider_view


def headers(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"name": name, "value": value, "raw": None} for name, value in pairs]


STRIPE_BODY = json.dumps(
    {
        "id": "evt_1Nq",
        "object": "event",
        "type": "invoice.paid",
        "data": {"object": {"id": "in_1", "type": "not this"}},
    }
).encode()


@pytest.mark.parametrize(
    ("hs", "body", "expected"),
    [
        (
            headers(("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e-cc78")),
            b'{"ref": "main"}',
            ("push", "72d3162e-cc78"),
        ),
        (headers(("x-github-event", "ping")), b"", ("ping", None)),
        (
            headers(
                ("X-Shopify-Topic", "orders/create"),
                ("X-Shopify-Webhook-Id", "b54557e4"),
                ("X-Shopify-Event-Id", "98880550"),
            ),
            b"{}",
            ("orders/create", "98880550"),
        ),
        (
            headers(("X-Shopify-Topic", "orders/create"), ("X-Shopify-Webhook-Id", "b54557e4")),
            b"{}",
            ("orders/create", "b54557e4"),
        ),
        (headers(("Stripe-Signature", "t=1,v1=ab")), STRIPE_BODY, ("invoice.paid", "evt_1Nq")),
        (headers(("Stripe-Signature", "t=1,v1=ab")), b"not json", (None, None)),
        (
            headers(("webhook-id", "msg_2b"), ("webhook-signature", "v1,x")),
            b'{"type": "user.created", "data": {}}',
            ("user.created", "msg_2b"),
        ),
        (headers(("svix-id", "msg_3c")), b'{"type": "invoice.sent"}', ("invoice.sent", "msg_3c")),
        (
            headers(("X-Slack-Signature", "v0=1")),
            b'{"type": "event_callback", "event_id": "Ev01", "event": {"type": "app_mention"}}',
            ("app_mention", "Ev01"),
        ),
        (
            headers(("X-Slack-Signature", "v0=1")),
            b'{"type": "url_verification", "challenge": "c"}',
            ("url_verification", None),
        ),
        (
            headers(("I-Twilio-Idempotency-Token", "a1b2-c3")),
            b"MessageStatus=sent",
            (None, "a1b2-c3"),
        ),
        (
            headers(("Content-Type", "application/json")),
            b'{"type": "x", "id": "evt_1"}',
            (None, None),
        ),
        (headers(), b"", (None, None)),
    ],
)
def test_each_provider_names_its_event_type_and_key(
    hs: list[dict[str, Any]], body: bytes, expected: tuple[str | None, str | None]
) -> None:
    assert provider_view(hs, body) == expected


def test_the_body_is_not_read_without_a_provider_header() -> None:
    # A JSON body alone says nothing about who sent it: an arbitrary `type` is not an event type.
    assert provider_view(
        headers(("Content-Type", "application/json")), b'{"type": "push", "id": "1"}'
    ) == (None, None)


def test_values_are_trimmed_capped_and_never_blank() -> None:
    long = "e" * (MAX_VALUE_CHARS + 50)
    event_type, key = provider_view(
        headers(("X-GitHub-Event", f"  {long} "), ("X-GitHub-Delivery", "   ")), b""
    )
    assert event_type == "e" * MAX_VALUE_CHARS
    assert key is None


def test_non_string_json_values_are_not_a_view() -> None:
    body = json.dumps({"type": ["a"], "id": 42}).encode()
    assert provider_view(headers(("Stripe-Signature", "t=1")), body) == (None, None)


def test_a_lone_surrogate_in_json_becomes_encodable_text() -> None:
    event_type, key = provider_view(
        headers(("Stripe-Signature", "t=1")), b'{"type": "a\\ud800b", "id": "evt_1"}'
    )
    assert key == "evt_1"
    assert event_type is not None
    event_type.encode("utf-8")


def test_absurd_nesting_is_no_view_and_no_crash() -> None:
    body = b'{"type": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert provider_view(headers(("webhook-id", "msg_1")), body) == (None, "msg_1")


PROVIDER_NAMES = st.sampled_from(
    [
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "X-Shopify-Topic",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Event-Id",
        "Stripe-Signature",
        "webhook-id",
        "svix-id",
        "X-Slack-Signature",
        "I-Twilio-Idempotency-Token",
        "Content-Type",
    ]
)
NAMES = PROVIDER_NAMES | st.text(max_size=20)
HEADER = st.fixed_dictionaries({"name": NAMES, "value": st.text(max_size=300)})
ODD_HEADER = st.dictionaries(st.text(max_size=5), st.none() | st.integers() | st.text())
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "id", "event", "event_id"]) | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
BODIES = st.binary(max_size=500) | JSONISH.map(lambda v: json.dumps(v).encode())


@settings(max_examples=400, deadline=None)
@given(st.lists(HEADER | ODD_HEADER, max_size=8), BODIES)
def test_property_any_request_gives_a_pair_of_short_texts(
    hs: list[dict[str, Any]], body: bytes
) -> None:
    view = provider_view(hs, body)
    assert isinstance(view, tuple) and len(view) == 2
    for value in view:
        assert value is None or (
            isinstance(value, str) and 0 < len(value) <= MAX_VALUE_CHARS and value == value.strip()
        )
        if value is not None:
            value.encode("utf-8")


def test_headers_that_are_not_records_are_no_view_and_no_error() -> None:
    assert provider_view([None], b"{}") == (None, None)
