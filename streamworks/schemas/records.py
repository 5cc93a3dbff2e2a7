"""The bridge between frozen record dataclasses and the dicts fastavro reads and writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from streamworks.schemas.catalog import contract_of

__all__ = ["AvroRecord"]

_Convert = Callable[[Any], Any]


class AvroRecord:
    """Base of the typed records: frozen dataclasses whose fields are the record's.

    By default a record's Avro schema is derived from its fields
    (:func:`~streamworks.schemas.derive.derive_schema`), in the namespace given by
    ``namespace=`` or else the class's module::

        @dataclass(frozen=True)
        class Reading(AvroRecord, namespace="iot"):
            device_id: str
            temp_c: float

    A class may instead mirror a hand-written contract, an ``.avsc`` file of a folder made
    known with :func:`~streamworks.schemas.catalog.use_contracts` (or ``Pipeline(...,
    contracts=...)``), by naming it: ``class Reading(AvroRecord, contract="iot.reading")``.
    The class must then fit the file; where it does not, the lookup fails naming the field.
    A contract is a schema, not a topic: any topic may carry the record.
    """

    avro_contract: ClassVar[str | None] = None
    """The hand-written contract this class mirrors; None when its schema is derived."""
    avro_namespace: ClassVar[str | None] = None
    """The namespace of the derived schema; None: the class's module."""
    _readers: ClassVar[tuple[tuple[str, _Convert | None], ...] | None] = None
    _writers: ClassVar[tuple[tuple[str, _Convert | None], ...] | None] = None

    def __init_subclass__(
        cls, *, contract: str | None = None, namespace: str | None = None, **options: Any
    ) -> None:
        super().__init_subclass__(**options)
        # dataclass(slots=True) builds the class anew, without these arguments: keep them
        if contract is not None or "avro_contract" not in cls.__dict__:
            cls.avro_contract = contract
        if namespace is not None or "avro_namespace" not in cls.__dict__:
            cls.avro_namespace = namespace

    def to_avro(self) -> dict[str, Any]:
        """The record as the dict fastavro writes (nested records as dicts, tuples as lists)."""
        writers = type(self).__dict__.get("_writers") or type(self)._build_writers()
        return {
            name: value if write is None or value is None else write(value)
            for name, write in writers
            for value in (getattr(self, name),)
        }

    @classmethod
    def _build_writers(cls) -> tuple[tuple[str, _Convert | None], ...]:
        hints = typing.get_type_hints(cls)
        writers = tuple(
            (item.name, _writer(hints[item.name]))
            for item in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
        cls._writers = writers
        return writers

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        """Build the record from a dict fastavro read (enums, tuples and nested records typed)."""
        readers = cls.__dict__.get("_readers") or cls._build_readers()
        kwargs = {}
        for name, convert in readers:
            value = data[name]
            kwargs[name] = value if convert is None or value is None else convert(value)
        return cls(**kwargs)

    @classmethod
    def _build_readers(cls) -> tuple[tuple[str, _Convert | None], ...]:
        hints = typing.get_type_hints(cls)
        defaulted = _defaulted_fields(cls)
        readers = tuple(
            (item.name, _converter(hints[item.name], logical=item.name in defaulted))
            for item in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
        cls._readers = readers
        return readers


def _converter(hint: Any, *, logical: bool = False) -> _Convert | None:  # noqa: PLR0911
    """How to turn fastavro's value for a field of type ``hint`` into the typed value.

    None is returned where nothing needs doing, so the common fields cost nothing. A value
    a reader filled in from a schema default arrives in its JSON form (a date as days, a
    time as milliseconds, a UUID as text): with ``logical`` (a field the schema gives a
    default) those are converted too.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        single = _converter(options[0], logical=logical) if len(options) == 1 else None
        if single is None:
            return None
        return lambda value: None if value is None else single(value)
    if origin is typing.Annotated:
        return _converter(typing.get_args(hint)[0], logical=logical)
    if origin in (tuple, list):  # a default's items arrive raw as well
        item = _converter(typing.get_args(hint)[0], logical=logical)
        if item is None:
            return tuple if origin is tuple else None
        kind = origin
        return lambda values: kind(item(v) for v in values)
    if origin is dict:
        value = _converter(typing.get_args(hint)[1], logical=logical)
        if value is None:
            return None
        return lambda values: {k: value(v) for k, v in values.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        return hint.from_avro
    return _LOGICAL.get(hint) if logical else None


def _defaulted_fields(cls: type) -> set[str]:
    """The fields the class's schema gives a default: the ones a reader may fill in."""
    try:
        fields = contract_of(cls).schema["fields"]
    except Exception:  # noqa: BLE001 - no schema here: convert every field, to be safe
        return {item.name for item in dataclasses.fields(cls)}
    return {field["name"] for field in fields if "default" in field}


def _writer(hint: Any) -> _Convert | None:  # noqa: PLR0911 - one return per kind
    """How to turn a field's typed value into what fastavro writes; None: as it is.

    Records become dicts at any depth, and tuples become lists: fastavro reads a tuple
    written to a union as ``(branch name, value)``.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) > 1:
            return _any_writer
        single = _writer(options[0])
        if single is None:
            return None
        return lambda value: None if value is None else single(value)
    if origin is typing.Annotated:
        return _writer(typing.get_args(hint)[0])
    if origin in (tuple, list):
        item = _writer(typing.get_args(hint)[0])
        if item is None:
            return list if origin is tuple else None
        return lambda values: [item(v) for v in values]
    if origin is dict:
        value = _writer(typing.get_args(hint)[1])
        if value is None:
            return None
        return lambda values: {k: value(v) for k, v in values.items()}
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        return _record_writer
    return None


def _record_writer(record: AvroRecord) -> dict[str, Any]:
    return record.to_avro()


def _any_writer(value: Any) -> Any:
    """A union of several types: convert by what the value is."""
    if isinstance(value, AvroRecord):
        return value.to_avro()
    if isinstance(value, list | tuple):
        return [_any_writer(v) for v in value]
    if isinstance(value, dict):
        return {k: _any_writer(v) for k, v in value.items()}
    return value


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1)

_LOGICAL: dict[Any, _Convert] = {
    dt.datetime: lambda v: (
        v if isinstance(v, dt.datetime) else _EPOCH + dt.timedelta(milliseconds=v)
    ),
    dt.date: lambda v: v if isinstance(v, dt.date) else _EPOCH_DAY + dt.timedelta(days=v),
    uuid.UUID: lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(v),
}
"""Logical types whose schema defaults fastavro hands over in their JSON form."""
