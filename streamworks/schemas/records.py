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
    """Base of the typed records; subclasses are frozen dataclasses mirroring one contract.

    ``topic`` names the contract (``schemas/contracts/<topic>.avsc``); a test checks that the
    class's fields agree with the file's, so the two cannot drift apart.
    """

    topic: ClassVar[str]
    _readers: ClassVar[tuple[tuple[str, _Convert | None], ...] | None] = None
    _names: ClassVar[tuple[str, ...] | None] = None

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
