"""Kafka's murmur2 key hash, as the Java client computes it, at a quarter of the cost.

aiokafka ships a byte-by-byte transcription of the Java code (about 12 µs for a 36-byte
order id). This one unpacks the 4-byte words in one ``struct`` call and masks once per
step, which gives the same hash (a property test compares the two on random keys).
"""

from __future__ import annotations

import struct
from functools import lru_cache

__all__ = ["murmur2"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C


@lru_cache(maxsize=64)
def _words(count: int) -> struct.Struct:
    return struct.Struct(f"<{count}I")


def murmur2(data: bytes) -> int:
    """The unsigned 32-bit murmur2 hash of ``data`` with Kafka's seed."""
    length = len(data)
    h = _SEED ^ length
    whole = length >> 2
    if whole:
        for word in _words(whole).unpack_from(data):
            k = (word * _M) & _MASK
            h = ((h * _M) & _MASK) ^ (((k ^ (k >> 24)) * _M) & _MASK)
    rest = length & 3
    if rest:
        tail = length & ~3
        if rest == 3:  # noqa: PLR2004 - the three tail lengths of the Java code
            h ^= data[tail + 2] << 16
        if rest >= 2:  # noqa: PLR2004
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)
