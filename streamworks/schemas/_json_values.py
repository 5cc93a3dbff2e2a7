"""What the JSON reader and writer share: their error, their compiler, typed defaults.

Both compile a schema with :class:`JsonCompiler`, which decides which of a direction's
:class:`Rules` each leaf of the schema gets (the same Avro types and logical types in both
directions), and compiles unions and enums the same way. Both need a field's default (Avro
JSON, as the schema writes it: bytes as ISO-8859-1 text, a timestamp as a number) as the
value fastavro reads, which :meth:`JsonCompiler.typed_default` works out once, when the
schema is compiled.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streamworks.schemas.errors import InvalidSchemaError
from streamworks.schemas.walk import SchemaWalker

__all__ = [
    "EPOCH",
    "EPOCH_DATE",
    "RANGES",
    "Convert",
    "Invalid",
    "JsonCompiler",
    "Rules",
    "decimal_fitter",
    "nested",
    "problem",
    "shown",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)
_SHOWN = 40
RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
"""The values an Avro int and long hold."""
_CONVERTED = {"float": float, "double": float, "bytes": lambda value: value.encode("latin-1")}
"""Primitive defaults whose JSON form is not already the value (the rest are kept as written)."""

Convert = Callable[[Any], Any]
"""One direction's function for one part of a schema; raises :class:`Invalid`."""


class Invalid(ValueError):
    """A value does not fit its schema; ``problems`` are ``(path, reason)`` pairs.

    Paths are relative to the value that raised: each enclosing record, array or map
    prefixes its part on the way up (see :func:`nested`), so the hot path builds no paths.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(
            "; ".join(f"{path}: {reason}" if path else reason for path, reason in problems)
        )
        self.problems = problems


def problem(reason: str) -> Invalid:
    """One problem with the value itself."""
    return Invalid([("", reason)])


def nested(part: str, error: Invalid) -> list[tuple[str, str]]:
    """``error``'s problems as seen from the enclosing value (``part``: a name or ``[i]``)."""
    return [
        (part + (path if not path or path.startswith("[") else "." + path), reason)
        for path, reason in error.problems
    ]


def decimal_fitter(
    scale: int, precision: int | None
) -> Callable[[decimal.Decimal], decimal.Decimal]:
    """A function putting a finite decimal at ``scale`` places, refusing one with more
    places or more than ``precision`` digits: a decimal is never rounded on its way."""
    quantum = decimal.Decimal(1).scaleb(-scale)
    # room for any digits the schema allows and then some: too many digits is a problem to
    # name, not an InvalidOperation of the default 28-digit context
    context = decimal.Context(prec=max(int(precision or 0), 28) + scale + 1)

    def fit(exact: decimal.Decimal) -> decimal.Decimal:
        if not exact.is_finite():
            raise problem(f"{exact} is not a finite decimal number")
        exponent = exact.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -scale:
            raise problem(f"{exact} has more than the {scale} decimal places the schema allows")
        try:
            fitted = exact.quantize(quantum, context=context)
        except decimal.InvalidOperation:
            raise problem(f"{exact} has too many digits for the schema") from None
        if precision is not None and len(fitted.as_tuple().digits) > int(precision):
            raise problem(f"{exact} has more than the {precision} digits the schema allows")
        return fitted

    return fit


def shown(value: Any) -> str:
    """A short repr of ``value`` for a message."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


@dataclass(frozen=True)
class Rules:
    """What one direction (reading JSON, or writing it) does with each leaf of a schema."""

    primitives: Mapping[str, Convert]
    """null, boolean, float, double, string and bytes."""
    integer: Callable[[str], Convert]
    """An int or a long, by that name."""
    binary: Callable[[int | None], Convert]
    """Bytes, or a fixed of that many."""
    timestamp: Callable[[bool], Convert]
    """timestamp-millis, or with True timestamp-micros."""
    date: Convert
    """The date logical type."""
    uuid: Convert
    """The uuid logical type."""
    decimal: Callable[[int, int | None], Convert]
    """The decimal logical type of that scale and precision."""


class JsonCompiler(SchemaWalker[Convert]):
    """Compiles a schema into one direction's functions; subclasses compile records,
    arrays and maps. It keeps each named type's schema, to read defaults that use it."""

    def __init__(self, rules: Rules) -> None:
        super().__init__()
        self.rules = rules
        self.schemas: dict[str, Mapping[str, Any]] = {}

    def _union(self, branches: list[Convert], schema: list[Any]) -> Convert:
        others = [b for b, s in zip(branches, schema, strict=True) if s != "null"]
        nullable = len(others) < len(branches)
        if nullable and len(others) == 1:  # ["null", T], by far the most common union
            only = others[0]

            def optional(value: Any) -> Any:
                return None if value is None else only(value)

            return optional
        kinds = ", ".join(_kind(s) for s in schema)

        def union(value: Any) -> Any:  # JSON has no branch tags: the first that fits
            if value is None and nullable:
                return None
            for branch in others:
                try:
                    return branch(value)
                except Invalid:
                    continue
            raise problem(f"expected one of {kinds}, got {shown(value)}")

        return union

    def _enum(self, symbols: list[str]) -> Convert:
        allowed = frozenset(symbols)

        def enum(value: Any) -> str:
            if not isinstance(value, str) or value not in allowed:
                raise problem(f"expected one of {', '.join(symbols)}, got {shown(value)}")
            return str.__str__(value)  # a StrEnum member as its plain value

        return enum

    def _fixed(self, size: int) -> Convert:
        return self.rules.binary(size)

    def _primitive(self, kind: str) -> Convert:
        if kind in RANGES:
            return self.rules.integer(kind)
        found = self.rules.primitives.get(kind)
        if found is None:
            raise InvalidSchemaError(f"{kind!r} is not an Avro type, nor a type named before")
        return found

    def _logical(self, logical: str, kind: Any, schema: Mapping[str, Any]) -> Convert | None:
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return self.rules.timestamp(logical == "timestamp-micros")
        if logical == "date" and kind == "int":
            return self.rules.date
        if logical == "uuid" and kind == "string":
            return self.rules.uuid
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return self.rules.decimal(int(schema.get("scale", 0)), schema.get("precision"))
        return None  # unknown logical types are their underlying type (Avro's rule)

    def _register(self, schema: Mapping[str, Any], namespace: str, compiled: Convert) -> Convert:
        name = str(schema["name"])
        space = schema.get("namespace", namespace)
        self.schemas[name] = schema
        if space and "." not in name:
            self.schemas[f"{space}.{name}"] = schema
        return super()._register(schema, namespace, compiled)

    def typed_default(self, schema: Any, value: Any, namespace: str, where: str) -> Any:
        """A field's default as fastavro reads it (a datetime, not its milliseconds)."""
        try:
            return self._default(schema, value, namespace)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as error:
            raise InvalidSchemaError(
                f"the default of {where}, {shown(value)}, does not fit its type: {error}"
            ) from error

    def _default(self, schema: Any, value: Any, namespace: str) -> Any:  # noqa: PLR0911
        if isinstance(schema, list):  # a union's default is of its first branch
            return self._default(schema[0], value, namespace)
        if isinstance(schema, str):
            named = self.schemas.get(schema) or self.schemas.get(f"{namespace}.{schema}")
            if named is not None:
                return self._default(named, value, namespace)
            convert = _CONVERTED.get(schema)
            return value if convert is None else convert(value)
        kind, logical = schema["type"], schema.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            unscaled = int.from_bytes(value.encode("latin-1"), "big", signed=True)
            return decimal.Decimal(unscaled).scaleb(-int(schema.get("scale", 0)))
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            unit = "milliseconds" if logical == "timestamp-millis" else "microseconds"
            return EPOCH + timedelta(**{unit: int(value)})
        if logical == "date" and kind == "int":
            return EPOCH_DATE + timedelta(days=int(value))
        if logical == "uuid" and kind == "string":
            return uuid.UUID(value)
        space = str(schema.get("namespace", namespace))
        if kind == "record":
            return {
                f["name"]: self._default(
                    f["type"], value[f["name"]] if f["name"] in value else f["default"], space
                )
                for f in schema["fields"]
            }
        if kind == "array":
            return [self._default(schema["items"], item, namespace) for item in value]
        if kind == "map":
            return {str(k): self._default(schema["values"], v, namespace) for k, v in value.items()}
        if kind == "enum":
            return str(value)
        if kind == "fixed":
            return value.encode("latin-1")
        return self._default(kind, value, namespace)


def _kind(schema: Any) -> str:
    """A union branch's name for a message: its name, logical type or type."""
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("logicalType") or schema.get("type"))
    return str(schema)
