"""Cursors and page bodies, one form for every list the API answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.paging import decode_cursor, encode_cursor, page_body

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@given(direction=st.sampled_from(["lt", "gt"]), item_id=ids)
def test_a_cursor_reads_back(direction: str, item_id: str) -> None:
    cursor = encode_cursor(direction, item_id)
    assert cursor.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(cursor) == (direction, item_id)


@given(st.text(max_size=60))
def test_anything_else_is_a_value_error(text: str) -> None:
    try:
        direction, item_id = decode_cursor(text)
    except ValueError as exc:
        assert str(exc) == "not a cursor this API returned"
    else:  # only a real cursor's text decodes
        assert encode_cursor(direction, item_id).rstrip("=") == text.rstrip("=")


@pytest.mark.parametrize("cursor", [encode_cursor("eq", "x"), encode_cursor("lt", ""), "e30"])
def test_a_cursor_names_a_direction_and_an_id(cursor: str) -> None:
    with pytest.raises(ValueError):
        decode_cursor(cursor)


def test_a_page_links_only_the_pages_there_are() -> None:
    page = [{"id": "evt_3"}, {"id": "evt_2"}]
    body = page_body(page, 2, older=True, newer=False)
    assert body["count"] == 2 and body["models"] == page
    assert decode_cursor(body["pagination"]["next"]) == ("lt", "evt_2")
    assert body["pagination"]["prev"] is None
    assert page_body([], 5, older=True, newer=True)["pagination"] == {
        "limit": 5,
        "next": None,
        "prev": None,
    }
