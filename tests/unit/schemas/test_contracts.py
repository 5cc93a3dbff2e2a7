"""The contracts are valid, documented, and agree with the typed record classes."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest

from schemas.records import ALL_RECORDS
from streamworks.schemas.catalog import contract, contracts
from streamworks.schemas.errors import InvalidSchemaError
from streamworks.schemas.records import AvroRecord

_PYTHON_TYPES = {"string": str, "long": int, "int": int, "boolean": bool, "double": float}


def _expected_hint(avro: Any) -> Any:
    """The Python type a record class must declare for an Avro field type."""
    if isinstance(avro, list):
        options = [_expected_hint(branch) for branch in avro if branch != "null"]
        assert len(options) == 1, "records only use [null, T] unions"
        return options[0] | None if "null" in avro else options[0]
    if isinstance(avro, str):
        return _PYTHON_TYPES.get(avro, avro)  # a named type: compared by name below
    logical = avro.get("logicalType")
    if logical == "timestamp-millis":
        return datetime
    if logical == "uuid":
        return UUID
    if avro["type"] == "array":
        return tuple[_expected_hint(avro["items"]), ...]  # type: ignore[misc]
    if avro["type"] in ("record", "enum"):
        return avro["name"].rpartition(".")[2]
    return _expected_hint(avro["type"])


def _normalise(hint: Any) -> Any:
    """Named classes compare by their Avro short name."""
    if isinstance(hint, type) and issubclass(hint, AvroRecord | enum.Enum):
        return hint.__name__
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [_normalise(a) for a in typing.get_args(hint) if a is not type(None)]
        return (args[0], "optional")
    if typing.get_origin(hint) is tuple:
        return ("tuple", _normalise(typing.get_args(hint)[0]))
    return hint


def _normalise_expected(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (_normalise_expected(args[0]), "optional")
    if typing.get_origin(hint) is tuple:
        return ("tuple", _normalise_expected(typing.get_args(hint)[0]))
    return hint


def test_every_contract_has_a_record_class_and_back() -> None:
    assert sorted(r.topic for r in ALL_RECORDS) == sorted(contracts())


@pytest.mark.parametrize("record_type", ALL_RECORDS, ids=lambda r: r.topic)
def test_record_class_agrees_with_its_avsc(record_type: type[AvroRecord]) -> None:
    schema = contract(record_type.topic).schema
    assert record_type.__name__ == schema["name"].rpartition(".")[2]
    hints = typing.get_type_hints(record_type)
    fields = {f.name: f for f in dataclasses.fields(record_type)}  # type: ignore[arg-type]
    assert set(fields) == {f["name"] for f in schema["fields"]}
    for avro_field in schema["fields"]:
        name = avro_field["name"]
        assert _normalise(hints[name]) == _normalise_expected(_expected_hint(avro_field["type"])), (
            name
        )
        python_default = fields[name].default
        if "default" in avro_field:
            default = avro_field["default"]
            expected = tuple(default) if isinstance(default, list) else default
            assert python_default == expected, f"{name}: default differs"
        else:
            assert python_default is dataclasses.MISSING, f"{name}: only the class has a default"


@pytest.mark.parametrize("topic", sorted(contracts()))
def test_every_field_is_documented_and_times_are_logical(topic: str) -> None:
    schema = contract(topic).schema
    assert schema.get("doc"), f"{topic}: the record has no doc"
    for field in schema["fields"]:
        assert field.get("doc"), f"{topic}.{field['name']} has no doc"
        # raw and clean orders carry the source's own text for ordered_at; from formatting
        # on, and for every time streamworks itself stamps, times are timestamp-millis
        as_sent = topic in ("orders.raw", "orders.clean") and field["name"] == "ordered_at"
        if field["name"].endswith("_at") and not as_sent:
            text = str(field["type"])
            assert "timestamp-millis" in text, f"{topic}.{field['name']} is not a timestamp"


def test_optional_fields_default_to_null_so_they_can_evolve() -> None:
    for topic, found in contracts().items():
        for field in found.schema["fields"]:
            if isinstance(field["type"], list) and field["type"][0] == "null":
                assert field.get("default", "missing") is None, f"{topic}.{field['name']}"


def test_an_unknown_topic_names_the_known_ones() -> None:
    with pytest.raises(InvalidSchemaError, match=r"no contract nope; known: customers"):
        contract("nope")
