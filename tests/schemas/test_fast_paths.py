"""The hot paths of header records and fresh ids say exactly what the general ones say."""

from __future__ import annotations

import os
import time
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from schemas.headers import header_record, header_records
from schemas.ids import CROCKFORD, id_time_ms, new_id, ulid

texts = st.one_of(st.binary(max_size=20), st.text(max_size=20))
# Raw headers as a server sees them: bytes, mostly UTF-8, now and then not.
raw_pairs = st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=20)), max_size=12)
any_pairs = st.lists(st.tuples(texts, texts), max_size=12)


@given(st.one_of(raw_pairs, any_pairs))
def test_header_records_are_each_pairs_record(pairs: list[tuple[str | bytes, str | bytes]]) -> None:
    expected = [header_record(name, value) for name, value in pairs]
    assert header_records(pairs) == expected
    assert header_records(tuple(pairs)) == expected
    assert header_records(iter(pairs)) == expected  # read once, whatever it is


@given(st.integers(min_value=0, max_value=(1 << 50) - 1))
def test_a_fresh_id_spells_its_time_as_the_general_spelling_does(ms: int) -> None:
    fresh = ulid(ms)
    general = ulid(ms, os.urandom(10))
    assert len(fresh) == 26 and set(fresh) <= set(CROCKFORD)
    assert fresh[:10] == general[:10]
    assert id_time_ms("req_" + fresh) == ms


def test_fresh_ids_are_unique_sorted_by_time_and_every_digit_is_random() -> None:
    ids = [new_id("req") for _ in range(4000)]
    assert len(set(ids)) == len(ids)
    now = int(time.time() * 1000)
    assert all(now - 60_000 <= id_time_ms(i) <= now for i in ids)
    assert [id_time_ms(i) for i in ids] == sorted(id_time_ms(i) for i in ids)
    # The 16 random digits: every one of the 32 values turns up in each place (4000 draws).
    for place in range(-16, 0):
        assert len(Counter(i[place] for i in ids)) == 32
