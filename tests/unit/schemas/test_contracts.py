"""Contracts are valid, documented, and agree with their typed record classes: the reference
project's (``schemas/``, the flagship's) and the test kit's (``tests/kit``), each folder alone.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import schemas
from schemas.records import ALL_RECORDS as PROJECT_RECORDS
from streamworks import use_contracts
from streamworks.schemas.catalog import Contract, contract, load_contracts
from streamworks.schemas.errors import InvalidSchemaError
from streamworks.schemas.records import AvroRecord
from tests import kit
from tests.kit.records import ALL_RECORDS as KIT_RECORDS

FOLDERS: dict[str, tuple[Path, tuple[type[AvroRecord], ...]]] = {
    "project": (schemas.CONTRACTS, PROJECT_RECORDS),
    "kit": (kit.CONTRACTS, KIT_RECORDS),
}
"""Each contracts folder with the record classes that mirror it."""
ALL: dict[str, Contract] = {
    name: found for folder, _ in FOLDERS.values() for name, found in load_contracts(folder).items()
}

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


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_every_contract_has_a_record_class_and_back(folder: str) -> None:
    directory, records = FOLDERS[folder]
    assert sorted(str(r.avro_contract) for r in records) == sorted(load_contracts(directory))


@pytest.mark.parametrize(
    "record_type", PROJECT_RECORDS + KIT_RECORDS, ids=lambda r: str(r.avro_contract)
)
def test_record_class_agrees_with_its_avsc(record_type: type[AvroRecord]) -> None:
    schema = contract(str(record_type.avro_contract)).schema
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


@pytest.mark.parametrize("topic", sorted(ALL))
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
    for topic, found in ALL.items():
        for field in found.schema["fields"]:
            if isinstance(field["type"], list) and field["type"][0] == "null":
                assert field.get("default", "missing") is None, f"{topic}.{field['name']}"


def test_an_unknown_contract_names_the_known_ones_and_their_folders() -> None:
    with pytest.raises(InvalidSchemaError) as caught:
        contract("nope")
    message = str(caught.value)
    assert message.startswith("no contract nope; known: ")
    assert "kit.readings" in message
    assert str(kit.CONTRACTS) in message


def test_a_folder_is_made_known_once_and_a_name_defined_twice_is_refused(tmp_path: Path) -> None:
    use_contracts(kit.CONTRACTS)  # again: nothing changes
    assert contract("kit.readings") == ALL["kit.readings"]
    other = dict(ALL["kit.readings"].schema, doc="Someone else's reading.")
    (tmp_path / "kit.readings.avsc").write_text(json.dumps(other))
    with pytest.raises(InvalidSchemaError, match=r"contract kit\.readings is defined differently"):
        use_contracts(tmp_path)
    assert contract("kit.readings") == ALL["kit.readings"]
