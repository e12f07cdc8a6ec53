"""The contract's small helpers: header records, ids, topic names, relay routes and a
transformation's compile errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.headers import header_record, header_records
from schemas.ids import CROCKFORD, derived_id, id_time_ms, new_id
from schemas.relay import relay_route
from schemas.topics import CATALOG, RETRY_TIERS_MS, Topics
from schemas.transformations import compile_error


def test_header_values_keep_their_bytes_when_they_are_not_utf8() -> None:
    assert header_records([(b"X-A", b"caf\xc3\xa9"), ("X-B", "plain"), ("X-C", b"caf\xe9")]) == [
        {"name": "X-A", "value": "café", "raw": None},
        {"name": "X-B", "value": "plain", "raw": None},
        {"name": "X-C", "value": "café", "raw": b"caf\xe9"},
    ]
    assert header_record(b"N\xe9", "v")["name"] == "Né"


def test_ids_refuse_an_unknown_prefix_and_fall_back_for_foreign_strings() -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_id("nope")
    with pytest.raises(ValueError, match="prefix"):
        derived_id("nope", 1, "a")
    assert id_time_ms("not-an-id", fallback=7) == 7
    assert id_time_ms("evt_!!!!!!!!!!!!!!!!!!!!!!!!!!", fallback=8) == 8
    with pytest.raises(ValueError, match="not an id"):
        id_time_ms("evt_short")
    assert id_time_ms(derived_id("evt", 1_780_000_000_000, "a")) == 1_780_000_000_000


def _time_digit_by_digit(value: str) -> int | None:
    """What an id's time is, read one Crockford digit at a time (None: not an id's time)."""
    body = value.rsplit("_", 1)[-1][:10].upper()
    if len(body) != 10 or any(ch not in CROCKFORD for ch in body):
        return None
    ms = 0
    for ch in body:
        ms = ms * 32 + CROCKFORD.index(ch)
    return ms


@given(
    st.text(alphabet=CROCKFORD + CROCKFORD.lower() + "ilou_!+- 0", max_size=30),
    st.integers(min_value=0, max_value=2**48 - 1),
)
def test_an_ids_time_is_read_as_its_digits_say(text: str, ms: int) -> None:
    expected = _time_digit_by_digit(text)
    assert id_time_ms(text, fallback=-1) == (-1 if expected is None else expected)
    assert id_time_ms(new_id("evt", ms)) == ms


def test_every_named_topic_is_in_the_catalog_under_its_namespace() -> None:
    topics = Topics("acme")
    properties = [name for name, value in vars(Topics).items() if isinstance(value, property)]
    named = {getattr(topics, name) for name in properties}
    named |= {topics.retry(tier) for tier in RETRY_TIERS_MS}
    assert all(name.startswith("acme.") for name in named)
    assert named == {name for name, _spec in topics.all()}
    assert len(named) == len(CATALOG) == len(properties) + len(RETRY_TIERS_MS)


def test_a_relay_route_is_per_destination() -> None:
    assert relay_route("des_1") == "/relay/des_1" != relay_route("des_2")


@pytest.mark.parametrize(
    ("message", "code", "expected"),
    [
        ("", "x", "does not compile as JavaScript"),
        ("SyntaxError: odd", "x", "SyntaxError: odd"),
        (
            "undefined:3: SyntaxError: Unexpected token\nx)\n ^",
            "a\nx)",
            "SyntaxError: Unexpected token (line 1, column 2)",
        ),
        ("undefined:3: SyntaxError: Unexpected end", "a", "SyntaxError: Unexpected end (line 1)"),
        (
            "undefined:9: SyntaxError: Unexpected end of input",
            "a",
            "SyntaxError: Unexpected end of input (at the end of the code)",
        ),
    ],
)
def test_a_compile_error_points_into_the_users_code(message: str, code: str, expected: str) -> None:
    assert compile_error(message, code) == expected
