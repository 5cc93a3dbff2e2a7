"""The JSON codec: every field type both ways, the problems it names, the schema's defaults."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import pytest

from streamworks import AvroRecord
from streamworks.schemas.catalog import use_contracts
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.derive import Precision
from streamworks.schemas.errors import EncodeError, InvalidSchemaError, ValueDecodeError
from streamworks.schemas.json_codec import JsonRecordCodec
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.typed import RecordCodec, codec_for
from tests.kit.records import Alarm, Label, Level, Reading

AT = datetime(2026, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC)
ID = UUID("8c0f6d3e-2b7a-4c1e-9f3d-5a6b7c8d9e0f")


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Part(AvroRecord, namespace="test.json"):
    name: str
    weight: float


@dataclass(frozen=True)
class Everything(AvroRecord, namespace="test.json"):
    text: str
    count: int
    ratio: float
    flag: bool
    blob: bytes
    maybe: str | None
    names: list[str]
    sizes: tuple[int, ...]
    scores: dict[str, float]
    part: Part
    parts: list[Part]
    colour: Colour
    at: datetime
    day: date
    id: UUID
    price: Annotated[Decimal, Precision(12, 2)]


EVERYTHING = Everything(
    text="héllo",
    count=-3,
    ratio=0.5,
    flag=True,
    blob=b"\x00\xffbin",
    maybe=None,
    names=["a", "b"],
    sizes=(1, 2),
    scores={"x": 1.5},
    part=Part("bolt", 2.0),
    parts=[Part("nut", 0.25)],
    colour=Colour.BLUE,
    at=AT,
    day=date(2026, 5, 1),
    id=ID,
    price=Decimal("12.50"),
)
EVERYTHING_JSON: dict[str, Any] = {
    "text": "héllo",
    "count": -3,
    "ratio": 0.5,
    "flag": True,
    "blob": "AP9iaW4=",
    "maybe": None,
    "names": ["a", "b"],
    "sizes": [1, 2],
    "scores": {"x": 1.5},
    "part": {"name": "bolt", "weight": 2.0},
    "parts": [{"name": "nut", "weight": 0.25}],
    "colour": "blue",
    "at": "2026-05-01T10:00:00.250+00:00",
    "day": "2026-05-01",
    "id": "8c0f6d3e-2b7a-4c1e-9f3d-5a6b7c8d9e0f",
    "price": "12.50",
}


def _decode(codec: JsonRecordCodec[Any], value: dict[str, Any] | bytes) -> Any:
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    return codec.decode(data, topic="t", partition=0, offset=7)


def _problem(codec: JsonRecordCodec[Any], value: dict[str, Any] | bytes) -> str:
    with pytest.raises(ValueDecodeError) as caught:
        _decode(codec, value)
    return caught.value.reason


# -- each type both ways ------------------------------------------------------------------------


def test_every_field_type_is_written_as_documented_and_read_back() -> None:
    codec = JsonRecordCodec(Everything)
    written = codec.encode(EVERYTHING)
    assert json.loads(written) == EVERYTHING_JSON
    assert list(json.loads(written)) == list(EVERYTHING_JSON)  # the schema's field order
    assert b" " not in written.replace(b"\xc3\xa9", b"")  # compact
    assert codec.decode(written) == EVERYTHING


def test_json_reads_to_the_same_record_as_avro_does() -> None:
    avro = RecordCodec(Everything, AvroCodec(InMemoryRegistry()), subject="t-value")
    from_avro = avro.decode(avro.encode(EVERYTHING))
    from_json = _decode(JsonRecordCodec(Everything), EVERYTHING_JSON)
    assert from_json == from_avro
    assert type(from_json.sizes) is tuple
    assert from_json.colour is Colour.BLUE


def test_nested_kit_records_round_trip() -> None:
    alarm = Alarm(Reading("s1", 101.5, AT), Level.ALARM, ("above 100",))
    codec = JsonRecordCodec(Alarm)
    assert json.loads(codec.encode(alarm)) == {
        "reading": {"sensor": "s1", "value": 101.5, "at": "2026-05-01T10:00:00.250+00:00"},
        "level": "ALARM",
        "reasons": ["above 100"],
    }
    assert codec.decode(codec.encode(alarm)) == alarm


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2026-05-01T12:00:00.250+02:00", AT),  # any offset, to UTC
        ("2026-05-01T10:00:00.250Z", AT),
        ("2026-05-01T10:00:00.250", AT),  # no offset: UTC
        ("2026-05-01T10:00:00.250999+00:00", AT),  # cut to the millisecond, as Avro does
        (int(AT.timestamp() * 1000), AT),  # epoch milliseconds
    ],
)
def test_times_are_read_in_every_documented_spelling(written: Any, read: datetime) -> None:
    reading = _decode(JsonRecordCodec(Reading), {"sensor": "s", "value": 1, "at": written})
    assert reading.at == read
    assert reading.at.tzinfo == UTC
    assert reading.value == 1.0
    assert type(reading.value) is float


def test_lenient_spellings_of_dates_decimals_uuids_and_integral_numbers() -> None:
    spelled = {
        **EVERYTHING_JSON,
        "count": -3.0,  # an integral number
        "day": (date(2026, 5, 1) - date(1970, 1, 1)).days,  # days since the epoch
        "price": 12.5,  # a number, at the schema's scale
        "id": "{8C0F6D3E-2B7A-4C1E-9F3D-5A6B7C8D9E0F}",
    }
    record = _decode(JsonRecordCodec(Everything), spelled)
    assert record == EVERYTHING
    assert str(record.price) == "12.50"


def test_naive_and_offset_datetimes_are_written_in_utc() -> None:
    codec = JsonRecordCodec(Reading)
    naive = Reading("s", 1.0, datetime(2026, 5, 1, 10, 0))  # naive on purpose
    local = Reading("s", 1.0, datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    for reading in (naive, local):
        assert json.loads(codec.encode(reading))["at"] == "2026-05-01T10:00:00.000+00:00"


# -- problems, named ------------------------------------------------------------------------------


def test_missing_unknown_and_wrong_typed_fields_are_all_named() -> None:
    reason = _problem(
        JsonRecordCodec(Reading), {"sensor": 7, "colour": "red", "at": "noon", "extra": 1}
    )
    assert reason.startswith("JSON value does not fit kit.Reading: ")
    assert "colour: unknown field" in reason
    assert "extra: unknown field" in reason
    assert "sensor: expected text, got 7" in reason
    assert "value: missing (the schema gives it no default)" in reason
    assert "at: expected ISO 8601 time, got 'noon'" in reason


def test_problems_inside_nested_records_and_lists_carry_their_path() -> None:
    value = {
        **EVERYTHING_JSON,
        "part": {"name": "bolt"},
        "parts": [{"name": "nut", "weight": 1}, {"name": 3, "weight": 1}],
        "scores": {"x": "high"},
        "sizes": [1, "two"],
    }
    reason = _problem(JsonRecordCodec(Everything), value)
    assert "part.weight: missing" in reason
    assert "parts[1].name: expected text, got 3" in reason
    assert "scores.x: expected a number, got 'high'" in reason
    assert "sizes[1]: expected an integer, got 'two'" in reason


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("flag", "true", "expected true or false, got 'true'"),
        ("count", 1.5, "expected an integer, got 1.5"),
        ("count", True, "expected an integer, got True"),
        ("count", 2**63, "out of range for an Avro long"),
        ("ratio", "0.5", "expected a number, got '0.5'"),
        ("blob", "not base64!", "expected base64 text"),
        ("maybe", 3, "expected text, got 3"),
        ("names", "a", "expected an array, got 'a'"),
        ("part", [], "expected an object, got []"),
        ("colour", "green", "expected one of red, blue, got 'green'"),
        ("day", "May 1st", "expected an ISO date (YYYY-MM-DD)"),
        ("id", "not-a-uuid", "expected a UUID, got 'not-a-uuid'"),
        ("price", "12.345", "12.345 has more than the 2 decimal places the schema allows"),
        ("price", "12345678901.5", "more than the 12 digits the schema allows"),
        ("price", "NaN", "NaN is not a finite decimal number"),
        ("price", "twelve", "expected a decimal number, got 'twelve'"),
        ("price", True, "expected a decimal number as text, got True"),
    ],
)
def test_each_wrong_type_is_named_with_what_was_expected(field: str, value: Any, said: str) -> None:
    reason = _problem(JsonRecordCodec(Everything), {**EVERYTHING_JSON, field: value})
    assert f"{field}: " in reason
    assert said in reason


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"\x00\x00\x00\x00\x07\x02s", "Avro-framed value on a JSON topic"),
        (b"", "empty value, not a JSON object"),
        (b"{'sensor': 1}", "not JSON: "),
        (b"[1, 2]", "expected an object, got [1, 2]"),
        (b'{"a": NaN}', "not JSON: "),
    ],
)
def test_values_that_are_not_json_objects_are_named(data: bytes, said: str) -> None:
    with pytest.raises(ValueDecodeError) as caught:
        JsonRecordCodec(Reading).decode(data, topic="iot.readings", partition=1, offset=9)
    assert said in caught.value.reason
    assert (caught.value.topic, caught.value.partition, caught.value.offset) == (
        "iot.readings",
        1,
        9,
    )
    assert "(topic iot.readings, partition 1, offset 9)" in str(caught.value)


def test_a_none_value_is_not_a_record() -> None:
    with pytest.raises(ValueDecodeError, match="empty value"):
        JsonRecordCodec(Reading).decode(None)


@pytest.mark.parametrize(
    ("record", "said"),
    [
        (Reading("s", float("nan"), AT), "value: nan has no JSON form"),
        (Reading("s", 1.0, "noon"), "at: expected a datetime, got 'noon'"),  # type: ignore[arg-type]
        (Reading(3, 1.0, AT), "sensor: expected a str, got 3"),  # type: ignore[arg-type]
    ],
)
def test_a_record_that_does_not_fit_is_not_written(record: Reading, said: str) -> None:
    with pytest.raises(EncodeError) as caught:
        JsonRecordCodec(Reading).encode(record)
    assert said in str(caught.value)
    assert "kit.Reading does not fit its schema as JSON" in str(caught.value)


def test_a_decimal_with_more_places_than_the_scale_is_not_written() -> None:
    with pytest.raises(EncodeError, match=r"price: 1\.005 has more than the 2 decimal places"):
        JsonRecordCodec(Everything).encode(
            Everything(**{**EVERYTHING.__dict__, "price": Decimal("1.005")})
        )


class Short(StrEnum):
    OK = "OK"


@dataclass(frozen=True)
class Narrow(AvroRecord, contract="kit.labels"):
    """kit.Label's contract knows OK, WARN and ALARM; this class knows only OK."""

    sensor: str
    level: Short = Short.OK


def test_a_symbol_the_schema_has_but_the_class_lacks_is_a_decode_error() -> None:
    reason = _problem(JsonRecordCodec(Narrow), {"sensor": "s", "level": "WARN"})
    assert "does not fit the class Narrow" in reason


# -- defaults -----------------------------------------------------------------------------------

DEVICE_CONTRACT = {
    "type": "record",
    "name": "Device",
    "namespace": "jsontest",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "firmware", "type": "string", "default": "1.0"},
        {
            "name": "seen",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "default": 1500,
        },
        {"name": "since", "type": {"type": "int", "logicalType": "date"}, "default": 2},
        {"name": "serial", "type": {"type": "string", "logicalType": "uuid"}, "default": str(ID)},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
            "default": "\u0001\u00f4",
        },
        {"name": "key", "type": "bytes", "default": "\u00ff\u0001"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": ["new"]},
        {"name": "note", "type": ["null", "string"], "default": None},
        {
            "name": "origin",
            "type": {
                "type": "record",
                "name": "Origin",
                "fields": [
                    {"name": "site", "type": "string"},
                    {"name": "rack", "type": "int", "default": 1},
                ],
            },
            "default": {"site": "hall"},
        },
        {"name": "retired", "type": "boolean", "default": False},
    ],
}


@dataclass(frozen=True)
class Origin(AvroRecord, namespace="jsontest"):
    site: str
    rack: int


@dataclass(frozen=True)
class Device(AvroRecord, contract="jsontest.device"):
    """Mirrors ``jsontest.device`` but leaves out ``retired``, which has a default."""

    id: str
    firmware: str
    seen: datetime
    since: date
    serial: UUID
    price: Annotated[Decimal, Precision(6, 2)]
    key: bytes
    tags: list[str]
    note: str | None
    origin: Origin


@pytest.fixture(scope="module", autouse=True)
def _device_contract(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder: Path = tmp_path_factory.mktemp("json-contracts")
    (folder / "jsontest.device.avsc").write_text(json.dumps(DEVICE_CONTRACT))
    use_contracts(folder)


def test_a_missing_field_takes_the_schemas_default_typed_as_avro_reads_it() -> None:
    device = _decode(JsonRecordCodec(Device), {"id": "d1"})
    assert device == Device(
        id="d1",
        firmware="1.0",
        seen=datetime(1970, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC),
        since=date(1970, 1, 3),
        serial=ID,
        price=Decimal("5.00"),
        key=b"\xff\x01",
        tags=["new"],
        note=None,
        origin=Origin("hall", 1),
    )


def test_a_mutable_default_is_not_shared_between_records() -> None:
    codec = JsonRecordCodec(Device)
    first, second = _decode(codec, {"id": "a"}), _decode(codec, {"id": "b"})
    first.tags.append("changed")
    assert second.tags == ["new"]


def test_a_schema_field_the_class_lacks_is_written_with_its_default() -> None:
    device = _decode(JsonRecordCodec(Device), {"id": "d1", "retired": True})
    written = json.loads(JsonRecordCodec(Device).encode(device))
    assert written["retired"] is False  # the class cannot carry it: the default is written
    assert written["seen"] == "1970-01-01T00:00:01.500+00:00"
    assert written["price"] == "5.00"
    assert written["key"] == "/wE="
    assert written["origin"] == {"site": "hall", "rack": 1}


def test_derived_defaults_apply_too() -> None:
    assert _decode(JsonRecordCodec(Label), {"sensor": "s"}) == Label("s", Level.OK, None)


@dataclass(frozen=True)
class Distant(AvroRecord, contract="jsontest.distant"):
    day: date


def test_a_default_the_type_cannot_hold_fails_when_the_codec_is_made(tmp_path: Path) -> None:
    distant = {  # a valid int to Avro, but no date: 999,999,999 days from 1970
        "type": "record",
        "name": "Distant",
        "namespace": "jsontest",
        "fields": [
            {"name": "day", "type": {"type": "int", "logicalType": "date"}, "default": 999_999_999}
        ],
    }
    (tmp_path / "jsontest.distant.avsc").write_text(json.dumps(distant))
    use_contracts(tmp_path)
    with pytest.raises(InvalidSchemaError, match=r"the default of Distant\.day, 999999999"):
        JsonRecordCodec(Distant)


# -- choosing the codec by format ---------------------------------------------------------------


class _NoRegistry:
    """A schema source that fails the test if anything asks it."""

    def schema_by_id(self, schema_id: int) -> str:
        raise AssertionError("a JSON codec asked the registry for a schema")

    def register(self, subject: str, schema: str) -> int:
        raise AssertionError("a JSON codec registered a schema")


def test_codec_for_makes_a_json_codec_that_never_asks_the_registry() -> None:
    codec = codec_for(Reading, AvroCodec(_NoRegistry()), format="json", subject="iot-value")
    reading = Reading("s", 1.0, AT)
    assert codec.decode(codec.encode(reading)) == reading
    assert codec.record_type is Reading
    assert isinstance(codec_for(Reading, AvroCodec(InMemoryRegistry())), RecordCodec)
