"""Reading a parsed JSON value as an Avro schema says, into the values fastavro would read.

:func:`compile_reader` turns a schema into a tree of small functions, one per part, once;
a record then costs a call per field. A reader is strict about shapes (a missing field
without a default, an unknown field, text where a number belongs are problems, each named
by its dotted path, all of a record's listed together) and returns what fastavro returns
for the same record in Avro: timestamps as UTC datetimes (to the millisecond for
``timestamp-millis``), dates, UUIDs, Decimals at the schema's scale, bytes, enum symbols as
text, nested records as dicts. The mapping is documented in
:mod:`streamworks.schemas.json_codec`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import decimal
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streamworks.schemas._json_values import (
    EPOCH,
    EPOCH_DATE,
    RANGES,
    Invalid,
    JsonCompiler,
    Rules,
    decimal_fitter,
    nested,
    problem,
    shown,
)

__all__ = ["Reader", "compile_reader"]

Reader = Callable[[Any], Any]
"""``(parsed JSON) -> the Avro-read value``; raises :class:`Invalid`."""

_REQUIRED: Any = object()
_MUTABLE = (list, dict)


def compile_reader(schema: Any) -> Reader:
    """A reader for ``schema`` (Avro schema as JSON data, named types defined inside it)."""
    return _Readers(_RULES).build(schema, "")


class _Readers(JsonCompiler):
    def _record(self, schema: Mapping[str, Any], namespace: str) -> Reader:
        fields: list[tuple[str, Reader, Any]] = []
        names: set[str] = set()

        def record(value: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise problem(f"expected an object, got {shown(value)}")
            problems: list[tuple[str, str]] = []
            if not names.issuperset(value):
                problems.extend(
                    (str(key), "unknown field (not in the schema)")
                    for key in value
                    if key not in names
                )
            out: dict[str, Any] = {}
            for name, read, default in fields:
                if name in value:
                    try:
                        out[name] = read(value[name])
                    except Invalid as error:
                        problems.extend(nested(name, error))
                elif default is _REQUIRED:
                    problems.append((name, "missing (the schema gives it no default)"))
                else:
                    out[name] = copy.deepcopy(default) if isinstance(default, _MUTABLE) else default
            if problems:
                raise Invalid(problems)
            return out

        self._register(schema, namespace, record)  # recursive types refer to themselves
        space = str(schema.get("namespace", namespace))
        for spec in schema["fields"]:
            name = spec["name"]
            names.add(name)
            default = _REQUIRED
            if "default" in spec:
                where = f"{schema['name']}.{name}"
                default = self.typed_default(spec["type"], spec["default"], space, where)
            fields.append((name, self.build(spec["type"], space), default))
        return record

    def _array(self, items: Reader) -> Reader:
        def array(value: Any) -> list[Any]:
            if not isinstance(value, list):
                raise problem(f"expected an array, got {shown(value)}")
            out: list[Any] = []
            problems: list[tuple[str, str]] = []
            for index, item in enumerate(value):
                try:
                    out.append(items(item))
                except Invalid as error:
                    problems.extend(nested(f"[{index}]", error))
            if problems:
                raise Invalid(problems)
            return out

        return array

    def _map(self, values: Reader) -> Reader:
        def mapping(value: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise problem(f"expected an object, got {shown(value)}")
            out: dict[str, Any] = {}
            problems: list[tuple[str, str]] = []
            for key, item in value.items():
                try:
                    out[key] = values(item)
                except Invalid as error:
                    problems.extend(nested(str(key), error))
            if problems:
                raise Invalid(problems)
            return out

        return mapping


# -- primitives --------------------------------------------------------------------------------
def _null(value: Any) -> None:
    if value is not None:
        raise problem(f"expected null, got {shown(value)}")


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise problem(f"expected true or false, got {shown(value)}")


def _integer(kind: str) -> Reader:
    low, high = RANGES[kind]

    def integer(value: Any) -> int:
        number: int
        if type(value) is int:
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        else:
            raise problem(f"expected an integer, got {shown(value)}")
        if not low <= number <= high:
            raise problem(f"{number} is out of range for an Avro {kind}")
        return number

    return integer


def _number(value: Any) -> float:
    if type(value) is float:
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise problem(f"expected a number, got {shown(value)}")
    try:
        return float(value)
    except OverflowError:
        raise problem(f"{shown(value)} is too large for a double") from None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise problem(f"expected text, got {shown(value)}")
    return value


def _binary(size: int | None) -> Reader:
    def binary(value: Any) -> bytes:
        if not isinstance(value, str):
            raise problem(f"expected base64 text, got {shown(value)}")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise problem(f"expected base64 text, got {shown(value)}") from None
        if size is not None and len(data) != size:
            raise problem(f"expected {size} bytes, got {len(data)}")
        return data

    return binary


_PRIMITIVES: dict[str, Reader] = {
    "null": _null,
    "boolean": _boolean,
    "float": _number,
    "double": _number,
    "string": _string,
    "bytes": _binary(None),
}


# -- logical types ---------------------------------------------------------------------------
def _timestamp(micros: bool) -> Reader:
    def timestamp(value: Any) -> datetime:
        if type(value) is int:
            try:
                return EPOCH + timedelta(milliseconds=value)
            except OverflowError:
                raise problem(f"{value} is not a valid epoch-millisecond time") from None
        if not isinstance(value, str):
            raise problem(f"expected ISO 8601 text or epoch milliseconds, got {shown(value)}")
        try:
            parsed = datetime.fromisoformat(value)
            moment = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            raise problem(f"expected ISO 8601 time, got {shown(value)}") from None
        return moment if micros else moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    return timestamp


def _date(value: Any) -> date:
    if type(value) is int:
        try:
            return EPOCH_DATE + timedelta(days=value)
        except OverflowError:
            raise problem(f"{value} days from 1970-01-01 is not a valid date") from None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise problem(f"expected an ISO date (YYYY-MM-DD), got {shown(value)}")


def _uuid(value: Any) -> uuid.UUID:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise problem(f"expected a UUID, got {shown(value)}")


def _decimal(scale: int, precision: int | None) -> Reader:
    fit = decimal_fitter(scale, precision)

    def number(value: Any) -> decimal.Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise problem(f"expected a decimal number as text, got {shown(value)}")
        try:  # a JSON number is read as the shortest text of its float
            return fit(decimal.Decimal(value if isinstance(value, str) else str(value)))
        except decimal.InvalidOperation:
            raise problem(f"expected a decimal number, got {shown(value)}") from None

    return number


_RULES = Rules(
    primitives=_PRIMITIVES,
    integer=_integer,
    binary=_binary,
    timestamp=_timestamp,
    date=_date,
    uuid=_uuid,
    decimal=_decimal,
)
