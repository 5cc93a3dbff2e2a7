"""Our murmur2 gives Kafka's partition for every key, as aiokafka's transcription does."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from streamworks.kafka._murmur2 import murmur2


@given(st.binary(max_size=200))
def test_same_hash_as_the_java_transcription(data: bytes) -> None:
    assert murmur2(data) == reference(data)


@pytest.mark.parametrize(
    ("key", "java"),
    [  # the expected values of Kafka's own UtilsTest.testMurmur2 (signed, as Java prints)
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_the_java_clients_values(key: bytes, java: int) -> None:
    assert murmur2(key) == java & 0xFFFFFFFF
