"""One walk over an Avro schema, shared by the compilers that turn a schema into functions.

A compiler turns each part of a schema into a function (a JSON reader, a writer); the walk
decides which part is which (unions, named references, logical types, records, enums,
arrays, maps, fixed) and keeps the named types, so recursive and reused types resolve to
the function compiled for them. Subclasses say what each part becomes. The JSON codec
(:mod:`streamworks.schemas.json_codec`) compiles with it; it sits here, below the
connectors, so their coercer and encoder can share it too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

__all__ = ["SchemaWalker"]

T = TypeVar("T")


class SchemaWalker(ABC, Generic[T]):
    """Compiles a schema into ``T`` functions, one per part, named types compiled once."""

    def __init__(self) -> None:
        self.named: dict[str, T] = {}

    def build(self, schema: Any, namespace: str) -> T:  # noqa: PLR0911 - one per Avro kind
        """The function for ``schema``, read in ``namespace``."""
        if isinstance(schema, list):
            return self._union([self.build(branch, namespace) for branch in schema], schema)
        if isinstance(schema, str):
            known = self.named.get(schema) or self.named.get(f"{namespace}.{schema}")
            if known is not None:
                return known
            return self._primitive(schema)
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical is not None:
            special = self._logical(logical, kind, schema)
            if special is not None:
                return special
        if kind == "record":
            return self._record(schema, namespace)
        if kind == "enum":
            return self._register(schema, namespace, self._enum(schema["symbols"]))
        if kind == "array":
            return self._array(self.build(schema["items"], namespace))
        if kind == "map":
            return self._map(self.build(schema["values"], namespace))
        if kind == "fixed":
            return self._register(schema, namespace, self._fixed(int(schema["size"])))
        return self.build(kind, namespace)

    def _register(self, schema: Mapping[str, Any], namespace: str, compiled: T) -> T:
        """Remember a named type under its short and full names; returns ``compiled``."""
        name = str(schema["name"])
        space = schema.get("namespace", namespace)
        self.named[name] = compiled
        if space and "." not in name:
            self.named[f"{space}.{name}"] = compiled
        return compiled

    @abstractmethod
    def _record(self, schema: Mapping[str, Any], namespace: str) -> T:
        """A record (register it before compiling its fields: they may refer to it)."""

    @abstractmethod
    def _union(self, branches: list[T], schema: list[Any]) -> T:
        """A union of the compiled ``branches`` (``schema`` is the union as written)."""

    @abstractmethod
    def _primitive(self, kind: str) -> T:
        """null, boolean, int, long, float, double, bytes or string."""

    @abstractmethod
    def _logical(self, logical: str, kind: Any, schema: Mapping[str, Any]) -> T | None:
        """A logical type, or None to treat it as its underlying type (Avro's rule)."""

    @abstractmethod
    def _enum(self, symbols: list[str]) -> T:
        """An enum of ``symbols``."""

    @abstractmethod
    def _array(self, items: T) -> T:
        """An array of ``items``."""

    @abstractmethod
    def _map(self, values: T) -> T:
        """A map of string to ``values``."""

    @abstractmethod
    def _fixed(self, size: int) -> T:
        """Exactly ``size`` bytes."""
