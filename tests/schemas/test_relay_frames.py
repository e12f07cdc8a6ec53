"""The relay's binary frames: a JSON head and the body's raw bytes, in one message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.relay import pack_frame, unpack_frame

HEADS = st.dictionaries(
    st.text(max_size=10),
    st.one_of(
        st.integers(),
        st.text(),
        st.none(),
        st.lists(st.lists(st.text(max_size=20), min_size=2, max_size=2), max_size=5),
    ),
    max_size=6,
)


@given(HEADS.filter(lambda head: "body" not in head), st.binary(max_size=4096))
def test_a_frame_comes_back_as_it_was_packed(head, body):
    assert unpack_frame(pack_frame(head, body)) == {**head, "body": body}


def test_any_byte_of_a_body_passes_as_is():
    body = bytes(range(256)) * 3
    frame = unpack_frame(pack_frame({"type": "request", "id": 1}, body))
    assert frame["body"] == body and frame["type"] == "request"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00",
        b"\x00\x00\x00\x09{}",
        b"\x00\x00\x00\x02[]",
        b"\x00\x00\x00\x02{x",
        b"\xff" * 8,
    ],
)
def test_what_is_no_frame_is_refused(data):
    with pytest.raises(ValueError):
        unpack_frame(data)
