"""Properties of derived schemas, for random record classes: they are valid Avro (to fastavro and
to the stricter Apache parser), carry every value through fastavro and the codec byte for
byte, fill in defaults for an older writer, and fit their own class."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import types
import uuid
import warnings
from enum import StrEnum
from typing import Any

import avro.schema
import fastavro
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings

from streamworks import AvroRecord
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.derive import derive_schema, misfits
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.typed import RecordCodec
from tests.unit.schemas.record_strategies import KNOWN_BUGS, classes_and_instances, record_classes

_PROPERTY = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # no explain phase: on random classes it varies parts of a failing one for minutes
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
_HEADER = 5  # the Confluent frame: magic byte and 4-byte schema id


def _schema(record_type: type[AvroRecord]) -> dict[str, Any]:
    schema = derive_schema(record_type)
    note(json.dumps(schema))  # printed with a failing example: the class itself prints badly
    return schema


def _fastavro_bytes(schema: dict[str, Any], datum: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.getvalue()


def _fastavro_read(schema: dict[str, Any], payload: bytes) -> Any:
    buffer = io.BytesIO(payload)
    datum = fastavro.schemaless_reader(buffer, fastavro.parse_schema(schema), None)
    assert buffer.tell() == len(payload), "bytes left after the record"
    return datum


def _codec(record_type: type[AvroRecord]) -> RecordCodec[AvroRecord]:
    return RecordCodec(record_type, AvroCodec(InMemoryRegistry()), subject="t-value")


@_PROPERTY
@given(record_classes(depth=3))
def test_the_derived_schema_is_valid_avro_to_fastavro_and_to_apache_avro(
    record_type: type[AvroRecord],
) -> None:
    schema = _schema(record_type)
    fastavro.parse_schema(schema)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Apache avro only warns about an ignored logical type
        parsed = avro.schema.parse(json.dumps(schema))
    assert isinstance(parsed, avro.schema.RecordSchema)
    assert parsed.fullname == f"{schema['namespace']}.{record_type.__name__}"


@_PROPERTY
@given(classes_and_instances())
def test_every_value_round_trips_through_fastavro(pair: tuple[type[AvroRecord], Any]) -> None:
    record_type, value = pair
    schema = _schema(record_type)
    datum = _fastavro_read(schema, _fastavro_bytes(schema, value.to_avro()))
    assert record_type.from_avro(datum) == value


@_PROPERTY
@given(classes_and_instances())
def test_the_codec_writes_the_bytes_fastavro_writes_and_reads_the_value_back(
    pair: tuple[type[AvroRecord], Any],
) -> None:
    record_type, value = pair
    schema = _schema(record_type)
    codec = _codec(record_type)
    framed = codec.encode(value)
    assert framed[:_HEADER] == b"\x00" + codec.schema_id.to_bytes(4, "big")
    assert framed[_HEADER:] == _fastavro_bytes(schema, value.to_avro())
    assert codec.decode(framed) == value


@settings(_PROPERTY, max_examples=100)
@given(classes_and_instances(allow_nan=True))
def test_values_holding_nan_survive_byte_for_byte(pair: tuple[type[AvroRecord], Any]) -> None:
    """NaN is unequal to itself, so a value holding one is compared by its bytes."""
    record_type, value = pair
    _schema(record_type)
    codec = _codec(record_type)
    framed = codec.encode(value)
    assert codec.encode(codec.decode(framed)) == framed


@_PROPERTY
@given(classes_and_instances())
def test_a_reader_fills_in_the_defaults_of_fields_an_older_writer_lacks(
    pair: tuple[type[AvroRecord], Any],
) -> None:
    record_type, value = pair
    _schema(record_type)
    defaults = _defaults(record_type)
    older = _without(record_type, defaults)
    note(json.dumps(derive_schema(older)))
    registry = AvroCodec(InMemoryRegistry())
    writer = RecordCodec(older, registry, subject="t-value")
    reader = RecordCodec(record_type, registry, subject="t-value", register=False)
    kept = {f.name: getattr(value, f.name) for f in _fields(older)}
    read = reader.decode(writer.encode(older(**kept)))
    assert read == dataclasses.replace(value, **defaults)


def _fields(record_type: type[AvroRecord]) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(record_type)  # type: ignore[arg-type]


def _defaults(record_type: type[AvroRecord]) -> dict[str, Any]:
    """The default of each field that has one."""
    found = {}
    for f in _fields(record_type):
        if f.default is not dataclasses.MISSING:
            found[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            found[f.name] = f.default_factory()
    return found


def _without(record_type: type[AvroRecord], names: dict[str, Any]) -> type[AvroRecord]:
    """The class as an older producer had it: the same full name, without the fields named."""

    def body(namespace: dict[str, Any]) -> None:
        namespace["__module__"] = record_type.__module__
        namespace["__annotations__"] = {
            f.name: f.type for f in _fields(record_type) if f.name not in names
        }

    space = record_type.avro_namespace
    keywords = {} if space is None else {"namespace": space}
    created = types.new_class(record_type.__name__, (AvroRecord,), keywords, body)
    older: type[AvroRecord] = dataclasses.dataclass(frozen=True)(created)
    return older


@_PROPERTY
@given(record_classes(depth=3))
def test_a_class_fits_its_own_derived_schema(record_type: type[AvroRecord]) -> None:
    schema = _schema(record_type)
    if "named_type_first_defined_in_a_union" in KNOWN_BUGS:
        assume(not _named_again_after_a_union(schema, set()))
    assert misfits(record_type, schema) == []


def _named_again_after_a_union(schema: Any, known: set[str]) -> bool:
    """Whether misfits() meets a named type by a name it learnt only inside a union branch:
    it checks each branch with a copy of the names it knows, and forgets what it learnt."""
    if isinstance(schema, str):
        return schema not in _PRIMITIVES and schema not in known
    if isinstance(schema, list):
        return any(_named_again_after_a_union(branch, set(known)) for branch in schema)
    if schema.get("type") in ("record", "enum"):
        known.add(f"{schema['namespace']}.{schema['name']}")
    children = [f["type"] for f in schema.get("fields", [])]
    children += [schema[key] for key in ("items", "values") if key in schema]
    return any(_named_again_after_a_union(child, known) for child in children)


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


# -- regressions: the bugs these properties found, each pinned by its smallest case ----------


class _Level(StrEnum):
    LOW = "LOW"


@dataclasses.dataclass(frozen=True)
class _Point(AvroRecord, namespace="test.bugs"):
    x: int


@dataclasses.dataclass(frozen=True)
class _Levels(AvroRecord, namespace="test.bugs"):
    levels: list[_Level | None]


@dataclasses.dataclass(frozen=True)
class _Points(AvroRecord, namespace="test.bugs"):
    points: list[_Point | None]


@dataclasses.dataclass(frozen=True)
class _Grid(AvroRecord, namespace="test.bugs"):
    rows: list[list[_Point]]


@dataclasses.dataclass(frozen=True)
class _Twice(AvroRecord, namespace="test.bugs"):
    first: _Point | None
    second: _Point


@pytest.mark.parametrize(
    "value",
    [_Levels([None]), _Points([_Point(1), None]), _Points([None, _Point(1)])],
    ids=["enum", "record-last", "record-first"],
)
def test_regression_none_in_converted_containers(value: AvroRecord) -> None:
    codec = _codec(type(value))
    assert codec.decode(codec.encode(value)) == value


@dataclasses.dataclass(frozen=True)
class _Tagged(AvroRecord, namespace="test.bugs"):
    tags: tuple[str, ...] | None


@pytest.mark.parametrize("tags", [(), ("a", "b"), ("null", "x")], ids=["empty", "two", "lost"])
def test_regression_tuples_in_unions(tags: tuple[str, ...]) -> None:
    value = _Tagged(tags)
    codec = _codec(_Tagged)
    assert codec.decode(codec.encode(value)) == value  # ("null", "x") comes back as None


def test_regression_records_deep_in_containers() -> None:
    value = _Grid([[_Point(1)]])
    codec = _codec(_Grid)
    assert codec.decode(codec.encode(value)) == value


def test_regression_named_type_first_defined_in_a_union() -> None:
    assert misfits(_Twice, derive_schema(_Twice)) == []


_AT = dt.datetime(2038, 9, 30, 15, 59, 20, 581000, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class _Stamped(AvroRecord, namespace="test.bugs"):
    at: dt.datetime = _AT


@dataclasses.dataclass(frozen=True)
class _Dated(AvroRecord, namespace="test.bugs"):
    x: int
    day: dt.date = dt.date(2020, 1, 1)
    ids: list[uuid.UUID] = dataclasses.field(default_factory=lambda: [uuid.UUID(int=1)])


def test_regression_logical_type_defaults_datetime_default_to_the_millisecond() -> None:
    millis = (_AT - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
    assert derive_schema(_Stamped)["fields"][0]["default"] == millis  # 2169475160581


def test_regression_logical_type_defaults_reach_the_record_typed() -> None:
    older: Any = _without(_Dated, {"day": None, "ids": None})
    registry = AvroCodec(InMemoryRegistry())
    writer = RecordCodec(older, registry, subject="t-value")
    reader = RecordCodec(_Dated, registry, subject="t-value", register=False)
    # raw, day is 18262 (an int) and ids are text, inside the list as well
    assert reader.decode(writer.encode(older(x=1))) == _Dated(x=1)
