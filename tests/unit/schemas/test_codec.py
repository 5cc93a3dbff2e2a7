"""The codec: Confluent framing, schema resolution, and typed errors for every bad input."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime

import pytest

from streamworks.ops.kafka._process import free_port_block
from streamworks.schemas.catalog import contract
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import (
    EncodeError,
    KeyDecodeError,
    RegistryUnavailableError,
    ValueDecodeError,
)
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from tests.kit.records import Alarm, Label, Level, Reading

NOW = datetime(2026, 11, 26, 12, 30, 15, 123000, tzinfo=UTC)
ALARM = Alarm(  # a nested record, an enum, an array and a time to the millisecond
    reading=Reading(sensor="s-17", value=-4.25, at=NOW),
    level=Level.ALARM,
    reasons=("below 0", "dropped 30 in a minute"),
)

V1 = {
    "type": "record",
    "name": "Thing",
    "fields": [{"name": "id", "type": "long"}],
}
V2 = {
    "type": "record",
    "name": "Thing",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "label", "type": "string", "default": "none"},
    ],
}


@pytest.fixture
def codec() -> AvroCodec:
    return AvroCodec(InMemoryRegistry())


def test_typed_round_trip_and_confluent_framing(codec: AvroCodec) -> None:
    records = RecordCodec(Alarm, codec)
    data = records.encode(ALARM)
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == records.schema_id
    assert records.decode(data) == ALARM
    labels = RecordCodec(Label, codec)
    for label in (Label("s1"), Label("s2", Level.WARN, "roof")):  # the optional unset and set
        assert labels.decode(labels.encode(label)) == label


def test_the_same_schema_gets_the_same_id(codec: AvroCodec) -> None:
    first = RecordCodec(Label, codec)
    second = RecordCodec(Label, codec)
    assert first.schema_id == second.schema_id


def test_a_consumer_reads_old_records_with_its_newer_schema(codec: AvroCodec) -> None:
    old = codec.encoder("thing-value", V1).encode({"id": 7})
    assert codec.decoder(V2).decode(old) == {"id": 7, "label": "none"}
    new = codec.encoder("thing-value", V2).encode({"id": 8, "label": "x"})
    assert codec.decoder(V1).decode(new) == {"id": 8}  # forward: the extra field is skipped
    assert codec.decoder().decode(new) == {"id": 8, "label": "x"}  # writer's own schema


def _framed(schema_id: int, body: bytes) -> bytes:
    return struct.pack(">bI", 0, schema_id) + body


BAD_INPUTS = {
    "empty": b"",
    "fewer than five bytes": b"\x00\x00\x01",
    "wrong magic byte": b"\x01\x00\x00\x00\x01\x02",
    "unknown schema id": _framed(999_999, b"\x02"),
    "truncated body": None,  # filled in below from a real record
    "garbage body": None,
    "huge length prefix": None,
    "trailing bytes": None,
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_bytes_raise_a_typed_non_retriable_error_with_context(
    codec: AvroCodec, case: str
) -> None:
    records = RecordCodec(Label, codec)
    good = records.encode(Label(sensor="s1", level=Level.WARN, note="in the hall"))
    header = good[:5]
    data = {
        "truncated body": good[:-3],
        "garbage body": header + b"\xff" * 12,
        "huge length prefix": header + b"\xfe\xff\xff\xff\x0f" + b"abc",
        "trailing bytes": good + b"\x00\x01",
    }.get(case, BAD_INPUTS[case])
    with pytest.raises(ValueDecodeError) as caught:
        records.decode(data, topic="sensors", partition=2, offset=41)
    error = caught.value
    assert error.retriable is False
    assert (error.topic, error.partition, error.offset) == ("sensors", 2, 41)
    assert "topic sensors, partition 2, offset 41" in str(error)
    if case not in ("empty", "fewer than five bytes", "wrong magic byte"):
        expected_id = 999_999 if case == "unknown schema id" else records.schema_id
        assert error.schema_id == expected_id


def test_keys_fail_as_key_errors(codec: AvroCodec) -> None:
    with pytest.raises(KeyDecodeError, match="cannot decode record key"):
        codec.decoder(key=True).decode(b"\x07", topic="t")


def test_a_record_that_does_not_fit_is_an_encode_error(codec: AvroCodec) -> None:
    encoder = codec.encoder("thing-value", V1)
    with pytest.raises(EncodeError, match="thing-value"):
        encoder.encode({"id": "not a number"})


def test_an_unreachable_registry_is_retriable_not_a_decode_error() -> None:
    port = free_port_block(1)  # nothing listens there
    codec = AvroCodec(RegistryClient(f"http://127.0.0.1:{port}", timeout=2))
    with pytest.raises(RegistryUnavailableError) as caught:
        codec.decoder().decode(_framed(5, b"\x02"), topic="t", partition=0, offset=1)
    assert caught.value.retriable is True


def test_catalog_schemas_are_what_gets_registered(codec: AvroCodec) -> None:
    registry = InMemoryRegistry()
    records = RecordCodec(Alarm, AvroCodec(registry))
    registered = json.loads(registry.schema_by_id(records.schema_id))
    assert registered == contract("kit.alarms").schema
    assert registered["fields"][0]["type"]["name"] == "kit.Reading"  # inlined: it stands alone
