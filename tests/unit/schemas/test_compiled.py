"""The generated Avro readers and writers agree with fastavro, byte for byte and value for
value, on random schemas, random records and damaged bytes; what they do not cover they
leave to fastavro."""

from __future__ import annotations

import io
import itertools
import struct
from enum import StrEnum
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import CONTRACTS as PROJECT_CONTRACTS
from streamworks.schemas._compiled import compile_reader, compile_writer
from streamworks.schemas.catalog import load_contracts
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import DecodeError, EncodeError
from streamworks.schemas.memory_registry import InMemoryRegistry
from tests.unit.schemas.avro_strategies import records

_PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
_LOGICAL = [
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "string", "logicalType": "uuid"},
]
_NAMES = itertools.count()


def _name(prefix: str) -> str:
    return f"{prefix}{next(_NAMES)}"


def _enum() -> st.SearchStrategy[dict[str, Any]]:
    symbols = st.lists(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True), min_size=1, max_size=5, unique=True
    )
    return symbols.map(lambda s: {"type": "enum", "name": _name("E"), "symbols": s})


def _types(depth: int, *, writable: bool) -> st.SearchStrategy[Any]:
    """Field types the generator covers: primitives, enums, nested records and unions (the
    writer's: null and one other type; the reader's: any two or three distinct kinds)."""
    simple = st.one_of(st.sampled_from(_PRIMITIVES[1:] + _LOGICAL), _enum())
    inner = simple
    if depth > 0:
        nested = _types(depth - 1, writable=writable)
        inner = st.one_of(
            simple,
            _record(depth - 1, writable=writable),
            nested.map(lambda t: {"type": "array", "items": t}),
            nested.map(lambda t: {"type": "map", "values": t}),
        )
    nullable = inner.flatmap(lambda t: st.sampled_from([["null", t], [t, "null"]]))
    unions = [nullable]
    if not writable:
        unions.append(st.lists(st.sampled_from(_PRIMITIVES), min_size=2, max_size=3, unique=True))
    return st.one_of(inner, *unions)


def _record(depth: int = 2, *, writable: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    fields = st.lists(_types(depth, writable=writable), min_size=1, max_size=6)
    return fields.map(
        lambda types: {
            "type": "record",
            "name": _name("R"),
            "fields": [{"name": f"f{i}", "type": t} for i, t in enumerate(types)],
        }
    )


def _fastavro_bytes(parsed: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


def _fastavro_read(parsed: Any, data: bytes) -> tuple[Any, int]:
    buffer = io.BytesIO(data)
    return fastavro.schemaless_reader(buffer, parsed, None), buffer.tell()


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@_SETTINGS
@given(st.data())
def test_writes_the_bytes_fastavro_writes_and_reads_what_it_reads(data: st.DataObject) -> None:
    schema = data.draw(_record())
    parsed = fastavro.parse_schema(schema)
    write = compile_writer(parsed, prefix=b"\x00ab")
    read = compile_reader(parsed)
    assert write is not None
    assert read is not None
    record = data.draw(records(schema))
    expected = _fastavro_bytes(parsed, record)
    assert write(record) == b"\x00ab" + expected
    assert read(b"xy" + expected, 2) == (_fastavro_read(parsed, expected)[0], len(expected) + 2)


@_SETTINGS
@given(st.data())
def test_damaged_bytes_are_refused_or_read_as_fastavro_reads_them(data: st.DataObject) -> None:
    schema = data.draw(_record(writable=False))
    parsed = fastavro.parse_schema(schema)
    read = compile_reader(parsed)
    assert read is not None
    encoded = bytearray(_fastavro_bytes(parsed, data.draw(records(schema))))
    for _ in range(data.draw(st.integers(1, 3))):
        if not encoded:
            break
        position = data.draw(st.integers(0, len(encoded) - 1))
        action = data.draw(st.sampled_from(["flip", "drop", "insert", "cut"]))
        if action == "flip":
            encoded[position] ^= data.draw(st.integers(1, 255))
        elif action == "drop":
            del encoded[position]
        elif action == "insert":
            encoded.insert(position, data.draw(st.integers(0, 255)))
        else:
            del encoded[position:]
    damaged = bytes(encoded)
    try:
        ours = read(damaged, 0)
    except (ValueError, IndexError, EOFError, UnicodeDecodeError, struct.error):
        return  # refused: fastavro may refuse too, or read garbage a stricter reader refuses
    assert _fastavro_read(parsed, damaged) == ours


@pytest.mark.parametrize(
    "field_type",
    [
        {"type": "fixed", "name": "F", "size": 4},
        {"type": "array", "items": {"type": "fixed", "name": "G", "size": 2}},
        {"type": "array", "items": "null"},
        {"type": "array", "items": {"type": "record", "name": "Empty", "fields": []}},
    ],
)
def test_types_it_does_not_cover_are_left_to_fastavro(field_type: Any) -> None:
    parsed = fastavro.parse_schema(
        {"type": "record", "name": "T", "fields": [{"name": "x", "type": field_type}]}
    )
    assert compile_reader(parsed) is None
    assert compile_writer(parsed) is None


def test_a_count_beyond_the_bytes_left_is_refused_before_any_looping() -> None:
    parsed = fastavro.parse_schema(
        {
            "type": "record",
            "name": "A",
            "fields": [{"name": "x", "type": {"type": "array", "items": "long"}}],
        }
    )
    read = compile_reader(parsed)
    assert read is not None
    with pytest.raises(ValueError, match="a block of 1000000000 items"):
        read(b"\x80\xa8\xd6\xb9\x07\x02", 0)  # a block of 1e9 items in one byte


def test_a_recursive_record_is_left_to_fastavro() -> None:
    parsed = fastavro.parse_schema(
        {
            "type": "record",
            "name": "Node",
            "fields": [{"name": "next", "type": ["null", "Node"]}, {"name": "v", "type": "long"}],
        }
    )
    assert compile_reader(parsed) is None
    assert compile_writer(parsed) is None


def test_a_union_of_two_types_is_read_but_written_by_fastavro() -> None:
    parsed = fastavro.parse_schema(
        {"type": "record", "name": "U", "fields": [{"name": "x", "type": ["string", "long"]}]}
    )
    assert compile_writer(parsed) is None
    read = compile_reader(parsed)
    assert read is not None
    data = _fastavro_bytes(parsed, {"x": 7})
    assert read(data, 0) == ({"x": 7}, len(data))


class Tier(StrEnum):
    gold = "GOLD"  # a member's hash is its name's: found by equality, not in a dict
    silver = "SILVER"


_TYPED = {
    "type": "record",
    "name": "Typed",
    "fields": [
        {"name": "i", "type": "int"},
        {"name": "n", "type": "long"},
        {"name": "s", "type": "string"},
        {"name": "t", "type": {"type": "enum", "name": "Tier", "symbols": ["GOLD", "SILVER"]}},
        {"name": "o", "type": ["null", "string"]},
        {"name": "d", "type": "double", "default": 1.5},
    ],
}
_GOOD = {"i": 1, "n": 2, "s": "x", "t": "GOLD", "o": None}


def test_missing_fields_take_their_default_or_null_as_fastavro_does() -> None:
    parsed = fastavro.parse_schema(_TYPED)
    write = compile_writer(parsed)
    assert write is not None
    assert write(_GOOD) == _fastavro_bytes(parsed, _GOOD)
    assert write({**_GOOD, "t": Tier.silver}) == _fastavro_bytes(parsed, {**_GOOD, "t": "SILVER"})


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"i": 2**31}, "ValueError"),
        ({"i": -(2**31) - 1}, "ValueError"),
        ({"n": 2**63}, "ValueError"),
        ({"n": 1.5}, "TypeError"),
        ({"s": 5}, "AttributeError"),
        ({"t": "BRONZE"}, "ValueError"),
        ({"o": 5}, "AttributeError"),
        ({"d": "x"}, "error: required argument"),
    ],
)
def test_a_value_that_does_not_fit_is_an_encode_error(change: dict[str, Any], problem: str) -> None:
    codec = AvroCodec(InMemoryRegistry())
    encoder = codec.encoder("typed-value", _TYPED)
    with pytest.raises(EncodeError, match=problem):
        encoder.encode({**_GOOD, **change})
    with pytest.raises(EncodeError, match=r"KeyError: 's'"):
        encoder.encode({k: v for k, v in _GOOD.items() if k != "s"})


def test_the_codec_uses_generated_code_and_frames_as_before() -> None:
    codec = AvroCodec(InMemoryRegistry())
    encoder = codec.encoder("typed-value", _TYPED)
    decoder = codec.decoder(_TYPED)
    data = encoder.encode(_GOOD)
    assert data[:5] == b"\x00\x00\x00\x00\x01"
    assert decoder.decode(data) == {**_GOOD, "d": 1.5}
    with pytest.raises(DecodeError, match="1 byte\\(s\\) left after the record"):
        decoder.decode(data + b"\x00")
    with pytest.raises(DecodeError, match="Avro body is invalid"):
        decoder.decode(data[:-3])


def test_the_reference_projects_plain_contracts_get_generated_code() -> None:
    """Every record of the flagship takes the fast path."""
    contracts = load_contracts(PROJECT_CONTRACTS)
    for topic in contracts:
        parsed = fastavro.parse_schema(contracts[topic].schema)
        assert compile_reader(parsed) is not None, topic
        assert compile_writer(parsed) is not None, topic


def test_the_code_is_generated_once_per_schema_and_read_without_a_reader_schema_too() -> None:
    codec = AvroCodec(InMemoryRegistry())
    data = codec.encoder("typed-value", _TYPED).encode(_GOOD)
    again = codec.encoder("other-value", _TYPED)  # same schema, same id: no second compile
    assert again.encode(_GOOD) == data
    reader = codec.generated_reader(1)
    assert reader is not None
    assert codec.generated_reader(1) is reader
    assert codec.decoder().decode(data) == {**_GOOD, "d": 1.5}


def _fastavro_error(body: bytes) -> str:
    try:
        fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(_TYPED), None)
    except Exception as error:  # noqa: BLE001 - the oracle: whatever fastavro raises
        return type(error).__name__
    raise AssertionError("fastavro read it")


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"", ""),  # the header alone
        (b"\x02\x04\x0bxx", "Expected -6 bytes, read 2"),  # a negative length
        (b"\x02\x04\xc8\x01xx", "Expected 100 bytes, read 2"),
        (b"\x02\x04\x02x\x08", "enum index 4 is not one of 2 symbols"),
        (b"\x02\x04\x02x\x00\x04", "union branch 2 is not one of 2"),
        (b"\x02\x04\x02x\x00\x00\x00\x00", "the bytes end inside the record"),
    ],
)
def test_bad_bytes_fail_with_the_error_fastavro_gives_them(body: bytes, detail: str) -> None:
    """A dead letter names the same error whichever reader read its record."""
    codec = AvroCodec(InMemoryRegistry())
    codec.encoder("typed-value", _TYPED)
    with pytest.raises(DecodeError) as failed:
        codec.decoder(_TYPED).decode(b"\x00\x00\x00\x00\x01" + body)
    assert f"Avro body is invalid: {_fastavro_error(body)}: {detail}" in str(failed.value)
