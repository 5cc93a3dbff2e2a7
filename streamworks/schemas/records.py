"""The bridge between frozen record dataclasses and the dicts fastavro reads and writes."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

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
    _names: ClassVar[tuple[str, ...] | None] = None

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
        """The record as the dict fastavro writes (enums as text, nested records as dicts)."""
        names = type(self).__dict__.get("_names") or type(self)._build_names()
        out = {name: getattr(self, name) for name in names}
        for name, value in out.items():
            if isinstance(value, AvroRecord):
                out[name] = value.to_avro()
            elif isinstance(value, list | tuple) and value and isinstance(value[0], AvroRecord):
                out[name] = [item.to_avro() for item in value]
            elif isinstance(value, dict) and value:
                if isinstance(next(iter(value.values())), AvroRecord):
                    out[name] = {key: item.to_avro() for key, item in value.items()}
        return out

    @classmethod
    def _build_names(cls) -> tuple[str, ...]:
        names = tuple(item.name for item in dataclasses.fields(cls))  # type: ignore[arg-type]
        cls._names = names
        return names

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
        readers = tuple(
            (item.name, _converter(hints[item.name]))
            for item in dataclasses.fields(cls)  # type: ignore[arg-type]
        )
        cls._readers = readers
        return readers


def _converter(hint: Any) -> _Convert | None:  # noqa: PLR0911 - one return per kind
    """How to turn fastavro's value for a field of type ``hint`` into the typed value."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _converter(options[0]) if len(options) == 1 else None
    if typing.get_origin(hint) is typing.Annotated:
        return _converter(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (tuple, list):
        kind = typing.get_origin(hint)
        item = _converter(typing.get_args(hint)[0])
        if item is None:
            return tuple if kind is tuple else None
        return lambda values: kind(item(v) for v in values)
    if typing.get_origin(hint) is dict:
        value = _converter(typing.get_args(hint)[1])
        if value is None:
            return None
        return lambda values: {k: value(v) for k, v in values.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        return hint.from_avro
    return None
