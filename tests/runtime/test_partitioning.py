"""Keyed records land where aiokafka's default partitioner (Kafka's murmur2) puts them."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from runtime.partitioning import KeyPartitioner, murmur2


@given(st.binary(max_size=200))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


def test_murmur2_known_values() -> None:
    # From the Java client's test (org.apache.kafka.common.utils.UtilsTest.testMurmur2),
    # as signed 32-bit ints.
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=64))
def test_a_key_goes_where_the_default_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert KeyPartitioner()(key, partitions, partitions[:1]) == DefaultPartitioner()(
        key, partitions, partitions[:1]
    )


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    partitioner = KeyPartitioner()
    assert {partitioner(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert partitioner(None, [0, 1], []) in (0, 1)
