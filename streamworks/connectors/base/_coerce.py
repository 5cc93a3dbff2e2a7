"""Coercing JSON-like values (or CSV text) to what an Avro schema expects.

A coercer is compiled once per schema: a tree of small functions, one per field type, so
a record costs a function call per field instead of a walk over the schema. Coercion is
strict about shapes (a missing required field, an unknown field, a list where a record
belongs are errors) and lenient about spellings: timestamps may be ISO 8601 text or epoch
milliseconds, and in ``text`` mode (CSV, where every value is a string) numbers and
booleans are parsed from their text. Every failure raises :class:`Invalid` with the dotted
path of the field, so the caller can say ``amount: expected a number, got 'twelve'``.

Sources convert with :mod:`streamworks.connectors.base._encode`, which applies these rules and
writes Avro in the same pass; this module is the readable statement of the rules and the
reference a property test holds the encoder to.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from streamworks.schemas.walk import SchemaWalker

__all__ = ["Coercer", "Invalid", "compile_schema"]

Coercer = Callable[[Any, str], Any]
"""``(value, path) -> avro-ready value``; raises :class:`Invalid`."""

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_EPOCH_DATE = date(1970, 1, 1)
_SHOWN = 40


class Invalid(ValueError):
    """A value does not fit its field; ``path`` is the dotted field path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


def compile_schema(schema: Any, *, text: bool = False) -> Coercer:
    """A coercer for ``schema`` (Avro schema as JSON data; named types resolved inside it)."""
    return _Compiler(text).build(schema, "")


_SHOWN_BITS = 256


def _shown(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > _SHOWN_BITS:
        return f"an integer of {value.bit_length():,} bits"  # repr() refuses 4,300+ digits
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


class _Compiler(SchemaWalker[Coercer]):
    def __init__(self, text: bool) -> None:
        super().__init__()
        self.text = text

    def _record(self, schema: Mapping[str, Any], namespace: str) -> Coercer:
        fields: list[tuple[str, Coercer, bool, Any]] = []
        names: set[str] = set()

        def record(value: Any, path: str) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                raise Invalid(path, f"expected an object, got {_shown(value)}")
            if not names.issuperset(value):
                unknown = next(str(k) for k in value if k not in names)
                where = f"{path}.{unknown}" if path else unknown
                raise Invalid(where, "unknown field (not in the topic's schema)")
            out: dict[str, Any] = {}
            for name, coerce, has_default, default in fields:
                where = f"{path}.{name}" if path else name  # only for error messages
                if name in value:
                    out[name] = coerce(value[name], where)
                elif has_default:
                    out[name] = default
                else:
                    raise Invalid(where, "missing required field")
            return out

        self._register(schema, namespace, record)  # recursive types refer to themselves
        space = str(schema.get("namespace", namespace))
        for spec in schema["fields"]:
            names.add(spec["name"])
            has_default = "default" in spec
            fields.append(
                (spec["name"], self.build(spec["type"], space), has_default, spec.get("default"))
            )
        return record

    def _union(self, branches: list[Coercer], schema: list[Any]) -> Coercer:
        nullable = "null" in schema
        others = [b for b, s in zip(branches, schema, strict=True) if s != "null"]
        if nullable and len(others) == 1:  # ["null", T], by far the most common union
            only, text = others[0], self.text

            def optional(value: Any, path: str) -> Any:
                if value is None or (text and value == ""):
                    return None
                return only(value, path)

            return optional

        def union(value: Any, path: str) -> Any:
            if value is None or (self.text and nullable and value == ""):
                if nullable:
                    return None
                raise Invalid(path, "may not be null")
            first: Invalid | None = None
            for branch in others:
                try:
                    return branch(value, path)
                except Invalid as error:
                    first = first or error
            raise first or Invalid(path, f"no branch of the union accepts {_shown(value)}")

        return union

    def _array(self, items: Coercer) -> Coercer:
        def array(value: Any, path: str) -> list[Any]:
            if not isinstance(value, list):
                raise Invalid(path, f"expected an array, got {_shown(value)}")
            return [items(item, f"{path}[{i}]") for i, item in enumerate(value)]

        return array

    def _map(self, values: Coercer) -> Coercer:
        def mapping(value: Any, path: str) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                raise Invalid(path, f"expected an object, got {_shown(value)}")
            return {str(k): values(v, f"{path}.{k}") for k, v in value.items()}

        return mapping

    def _enum(self, symbols: list[str]) -> Coercer:
        allowed = frozenset(symbols)

        def enum(value: Any, path: str) -> str:
            if not isinstance(value, str) or value not in allowed:
                raise Invalid(path, f"expected one of {', '.join(symbols)}, got {_shown(value)}")
            return value

        return enum

    # -- primitives -----------------------------------------------------------------------
    def _primitive(self, kind: str) -> Coercer:
        if kind == "null":
            return _null
        if kind == "string":
            return _string
        if kind == "boolean":
            return self._boolean
        if kind in ("int", "long"):
            return self._integer(_INT32 if kind == "int" else _INT64, kind)
        if kind in ("float", "double"):
            return self._number
        if kind == "bytes":
            return self._bytes(None)
        raise Invalid("", f"unsupported Avro type {kind!r}")

    def _boolean(self, value: Any, path: str) -> bool:
        if isinstance(value, bool):
            return value
        if self.text and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise Invalid(path, f"expected true or false, got {_shown(value)}")

    def _integer(self, bounds: tuple[int, int], kind: str) -> Coercer:
        low, high = bounds

        def integer(value: Any, path: str) -> int:
            if isinstance(value, str) and self.text:
                try:
                    value = int(value.strip())
                except ValueError:
                    raise Invalid(path, f"expected an integer, got {_shown(value)}") from None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise Invalid(path, f"expected an integer, got {_shown(value)}")
            if not low <= value <= high:
                raise Invalid(path, f"{value} is out of range for an Avro {kind}")
            return value

        return integer

    def _number(self, value: Any, path: str) -> float:
        if isinstance(value, str) and self.text:
            try:
                value = float(value.strip())
            except ValueError:
                raise Invalid(path, f"expected a number, got {_shown(value)}") from None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Invalid(path, f"expected a number, got {_shown(value)}")
        number = float(value)
        if math.isinf(number) and not isinstance(value, float):
            raise Invalid(path, f"{_shown(value)} is too large for a double")
        return number

    def _fixed(self, size: int) -> Coercer:
        return self._bytes(size)

    @staticmethod
    def _bytes(size: int | None) -> Coercer:
        def binary(value: Any, path: str) -> bytes:
            if isinstance(value, bytes):
                data = value
            elif isinstance(value, str):
                try:
                    data = base64.b64decode(value, validate=True)
                except binascii.Error:
                    raise Invalid(path, "expected base64 text") from None
            else:
                raise Invalid(path, f"expected base64 text, got {_shown(value)}")
            if size is not None and len(data) != size:
                raise Invalid(path, f"expected {size} bytes, got {len(data)}")
            return data

        return binary

    # -- logical types -------------------------------------------------------------------
    def _logical(self, logical: str, kind: Any, schema: Mapping[str, Any]) -> Coercer | None:
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return self._timestamp
        if logical == "date" and kind == "int":
            return self._date
        if logical == "uuid" and kind == "string":
            return _uuid
        if logical == "decimal" and kind == "bytes":
            return _decimal(int(schema.get("scale", 0)))
        return None  # unknown logical types are their underlying type (Avro's rule)

    def _timestamp(self, value: Any, path: str) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str) and self.text and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return datetime.fromtimestamp(value / 1000, tz=UTC)
            except (OverflowError, OSError, ValueError):
                raise Invalid(path, f"{value} is not a valid epoch-millisecond time") from None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                raise Invalid(path, f"expected ISO 8601 time, got {_shown(value)}") from None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        raise Invalid(path, f"expected ISO 8601 text or epoch millis, got {_shown(value)}")

    def _date(self, value: Any, path: str) -> date:
        if isinstance(value, int) and not isinstance(value, bool):
            return date.fromordinal(_EPOCH_DATE.toordinal() + value)
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise Invalid(path, f"expected an ISO date, got {_shown(value)}")


def _null(value: Any, path: str) -> None:
    if value is not None:
        raise Invalid(path, f"expected null, got {_shown(value)}")


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise Invalid(path, f"expected text, got {_shown(value)}")
    return value


def _uuid(value: Any, path: str) -> str:
    try:
        return str(uuid.UUID(value.strip()))
    except (AttributeError, ValueError):
        raise Invalid(path, f"expected a UUID, got {_shown(value)}") from None


def _decimal(scale: int) -> Coercer:
    quantum = decimal.Decimal(1).scaleb(-scale)

    def number(value: Any, path: str) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float | decimal.Decimal):
            raise Invalid(path, f"expected a decimal number, got {_shown(value)}")
        try:
            exact = decimal.Decimal(str(value).strip())
            return exact.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
        except decimal.InvalidOperation:
            raise Invalid(path, f"expected a decimal number, got {_shown(value)}") from None

    return number
