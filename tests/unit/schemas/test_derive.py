"""Schemas derived from record classes, and the check that a class fits a hand-written one."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import fastavro
import pytest

from streamworks import AvroRecord
from streamworks.schemas.derive import Precision, derive_schema, misfits
from streamworks.schemas.errors import InvalidSchemaError


class Colour(StrEnum):
    RED = "RED"
    GREEN = "GREEN"


@dataclass(frozen=True)
class Place(AvroRecord):
    """Where something is."""

    name: str
    """What people call it."""
    lat: float


@dataclass(frozen=True)
class Everything(AvroRecord, namespace="test.derive"):
    text: str
    count: int
    ratio: float
    flag: bool
    blob: bytes
    at: dt.datetime
    day: dt.date
    ident: uuid.UUID
    price: Annotated[Decimal, Precision(12, 2)]
    colour: Colour
    home: Place
    places: tuple[Place, ...]
    tags: list[str]
    scores: dict[str, int]
    maybe: str | None = None
    colour_too: Colour = Colour.GREEN
    extra: list[int] = field(default_factory=list)


def _roundtrip(schema: dict[str, Any], value: dict[str, Any]) -> Any:
    parsed = fastavro.parse_schema(schema)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, value)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, parsed)


def test_every_supported_type_derives_a_schema_that_round_trips_the_record() -> None:
    value = Everything(
        text="t",
        count=2**40,
        ratio=0.5,
        flag=True,
        blob=b"\x00\x01",
        at=dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC),
        day=dt.date(2026, 1, 2),
        ident=uuid.UUID(int=7),
        price=Decimal("12.34"),
        colour=Colour.RED,
        home=Place("home", 1.5),
        places=(Place("a", 1.0), Place("b", 2.0)),
        tags=["x"],
        scores={"a": 1},
    )
    schema = derive_schema(Everything)
    assert schema["namespace"] == "test.derive"
    assert Everything.from_avro(_roundtrip(schema, value.to_avro())) == value


def test_docs_defaults_and_nullable_order_come_from_the_class() -> None:
    schema = derive_schema(Everything)
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["maybe"]["type"] == ["null", "string"]
    assert fields["maybe"]["default"] is None
    assert fields["colour_too"]["default"] == "GREEN"
    assert fields["extra"]["default"] == []
    assert "default" not in fields["text"]
    place = fields["home"]["type"]
    assert place["doc"] == "Where something is."
    assert place["fields"][0]["doc"] == "What people call it."
    assert fields["places"]["type"]["items"] == f"{place['namespace']}.Place"  # named once


@dataclass(frozen=True)
class _Plain(AvroRecord):
    value: object


@dataclass(frozen=True)
class _LooseDecimal(AvroRecord):
    value: Decimal


@pytest.mark.parametrize(
    ("record", "named"),
    [(_Plain, "_Plain.value"), (_LooseDecimal, "Precision")],
)
def test_a_type_without_an_avro_form_is_refused_naming_the_field(record: type, named: str) -> None:
    with pytest.raises(InvalidSchemaError, match=named):
        derive_schema(record)


@dataclass(frozen=True)
class Reading(AvroRecord):
    device_id: str
    temp_c: float
    note: str | None = None


def _contract(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "Reading", "fields": list(fields)}


def test_a_class_fits_its_own_derived_schema_and_a_compatible_hand_written_one() -> None:
    assert misfits(Reading, derive_schema(Reading)) == []
    assert misfits(Everything, derive_schema(Everything)) == []
    hand = _contract(
        {"name": "device_id", "type": "string"},
        {"name": "temp_c", "type": "float"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "added_later", "type": "int", "default": 0},
    )
    assert misfits(Reading, hand) == []


def test_a_renamed_field_is_named_both_ways() -> None:
    hand = _contract(
        {"name": "device_id", "type": "string"},
        {"name": "temperature_c", "type": "double"},
        {"name": "note", "type": ["null", "string"], "default": None},
    )
    assert misfits(Reading, hand) == [
        "Reading.temp_c: in the class, not in the contract",
        "Reading.temperature_c: in the contract without a default, not in the class",
    ]


def test_wrong_types_and_nullability_are_named() -> None:
    hand = _contract(
        {"name": "device_id", "type": "long"},
        {"name": "temp_c", "type": "double"},
        {"name": "note", "type": "string"},
    )
    problems = misfits(Reading, hand)
    assert problems == [
        "Reading.device_id: the class is str, the contract is long",
        "Reading.note: the class allows None, the contract does not",
    ]


@dataclass(frozen=True)
class Tagged(AvroRecord):
    tags: list[str]


def test_a_container_fits_a_nullable_contract_field() -> None:
    hand = {
        "type": "record",
        "name": "Tagged",
        "fields": [
            {
                "name": "tags",
                "type": ["null", {"type": "array", "items": "string"}],
                "default": None,
            }
        ],
    }
    assert misfits(Tagged, hand) == []
