"""Kafka's key partitioning (the Java client's murmur2), without aiokafka's per-byte Python.

A keyed record must land where every Kafka client puts it (the same key, the same partition,
whichever process or language produced it), so the hash is the Java client's own
(`org.apache.kafka.common.utils.Utils.murmur2`, seed 0x9747b28c). aiokafka's `murmur2` reads the
key byte by byte and masks after every step, which cost a delivery ~4% of the deliverer's CPU
(its attempt record is keyed by the event id); here the key's 32-bit words come out of one
`struct` call and each step masks once.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
# One compiled unpacker per key length (keys are ids: a handful of lengths).
_WORDS: dict[int, struct.Struct] = {}


def _words(length: int) -> struct.Struct:
    unpacker = _WORDS.get(length)
    if unpacker is None:
        unpacker = _WORDS[length] = struct.Struct(f"<{length // 4}I")
    return unpacker


def murmur2(
    data: bytes,
    _seed: int = _SEED,
    _m: int = _M,
    _mask: int = _MASK,
    _words: Callable[[int], struct.Struct] = _words,
) -> int:
    """The unsigned 32-bit MurmurHash2 of `data`, as Kafka's Java client computes it. (The
    keyword defaults are the constants as locals: a third of the time of global lookups.)"""
    length = len(data)
    m, mask = _m, _mask
    h = _seed ^ length
    for k in _words(length).unpack_from(data):
        k = (k * m) & mask
        h = ((h * m) & mask) ^ (((k ^ (k >> 24)) * m) & mask)
    tail = length & 3
    if tail:
        end = length & ~3
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * m) & mask
    h = ((h ^ (h >> 13)) * m) & mask
    return h ^ (h >> 15)


class KeyPartitioner:
    """aiokafka's `DefaultPartitioner`, record for record: a key to its murmur2 partition among
    all the topic's partitions, a record without a key to any available one."""

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
