"""Property and fuzz tests: every contract round-trips; no byte string crashes the decoder."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import CONTRACTS as PROJECT_CONTRACTS
from streamworks.schemas.catalog import Contract, load_contracts
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import DecodeError
from streamworks.schemas.memory_registry import InMemoryRegistry
from tests.kit import CONTRACTS as KIT_CONTRACTS
from tests.unit.schemas.avro_strategies import records

_CONTRACTS: dict[str, Contract] = {
    **load_contracts(PROJECT_CONTRACTS),
    **load_contracts(KIT_CONTRACTS),
}
"""Every contract of the reference project and of the test kit: varied, real schemas."""
TOPICS = sorted(_CONTRACTS)
_CODEC = AvroCodec(InMemoryRegistry())
_ENCODERS = {t: _CODEC.encoder(c.subject, c.schema_str) for t, c in _CONTRACTS.items()}
_DECODERS = {t: _CODEC.decoder(c.schema) for t, c in _CONTRACTS.items()}


@pytest.mark.parametrize("topic", TOPICS)
def test_random_records_round_trip(topic: str) -> None:
    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(records(_CONTRACTS[topic].schema))
    def round_trip(record: dict[str, Any]) -> None:
        data = _ENCODERS[topic].encode(record)
        assert _DECODERS[topic].decode(data) == record

    round_trip()


@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_ever_raise_decode_errors(data: bytes) -> None:
    for decoder in _DECODERS.values():
        try:
            decoder.decode(data, topic="fuzz", partition=0, offset=0)
        except DecodeError:
            pass


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_records_only_ever_raise_decode_errors(data: st.DataObject) -> None:
    topic = data.draw(st.sampled_from(TOPICS))
    record = data.draw(records(_CONTRACTS[topic].schema))
    encoded = bytearray(_ENCODERS[topic].encode(record))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        action = data.draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        if action == "flip":
            encoded[position] ^= data.draw(st.integers(1, 255))
        elif action == "drop" and len(encoded) > 1:
            del encoded[position]
        elif action == "insert":
            encoded.insert(position, data.draw(st.integers(0, 255)))
        else:
            del encoded[position:]
            if not encoded:
                break
    decoder = _DECODERS[topic]
    try:
        decoder.decode(bytes(encoded), topic=topic, partition=0, offset=0)
    except DecodeError:
        pass
