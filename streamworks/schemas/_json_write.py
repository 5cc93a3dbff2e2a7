"""Writing a record's Avro-shaped dict as JSON data, checked against the schema as it goes.

:func:`compile_writer` is the reverse of :func:`~streamworks.schemas._json_read.compile_reader`:
what it writes, the reader reads back to the same values. It accepts what fastavro would
write for the schema (a datetime or epoch milliseconds for a timestamp, a UUID or its text,
a Decimal), so a record that would not fit in Avro does not fit in JSON either; a schema
field the record lacks is written with its default.
"""

from __future__ import annotations

import base64
import decimal
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn

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
from streamworks.schemas.records import AvroRecord

__all__ = ["Writer", "compile_writer"]

Writer = Callable[[Any], Any]
"""``(Avro-shaped value) -> JSON data``; raises :class:`Invalid`."""

_REQUIRED: Any = object()


def compile_writer(schema: Any) -> Writer:
    """A writer for ``schema`` (Avro schema as JSON data, named types defined inside it)."""
    return _Writers(_RULES).build(schema, "")


class _Writers(JsonCompiler):
    def _record(self, schema: Mapping[str, Any], namespace: str) -> Writer:
        fields: list[tuple[str, Writer, Any]] = []

        def record(value: Any) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                if not isinstance(value, AvroRecord):
                    raise problem(f"expected a record, got {shown(value)}")
                value = value.to_avro()  # nested deeper than to_avro() converts
            out: dict[str, Any] = {}
            problems: list[tuple[str, str]] = []
            for name, write, default in fields:
                if name in value:
                    try:
                        out[name] = write(value[name])
                    except Invalid as error:
                        problems.extend(nested(name, error))
                elif default is _REQUIRED:
                    problems.append((name, "missing (the schema gives it no default)"))
                else:
                    out[name] = default
            if problems:
                raise Invalid(problems)
            return out

        self._register(schema, namespace, record)  # recursive types refer to themselves
        space = str(schema.get("namespace", namespace))
        for spec in schema["fields"]:
            write = self.build(spec["type"], space)
            default = _REQUIRED
            if "default" in spec:  # as JSON once, now: written as is for every record
                where = f"{schema['name']}.{spec['name']}"
                default = write(self.typed_default(spec["type"], spec["default"], space, where))
            fields.append((spec["name"], write, default))
        return record

    def _array(self, items: Writer) -> Writer:
        def array(value: Any) -> list[Any]:
            if not isinstance(value, list | tuple):
                raise problem(f"expected a list, got {shown(value)}")
            try:
                return [items(item) for item in value]
            except Invalid:
                return _each(items, value)  # again, to name every bad item

        return array

    def _map(self, values: Writer) -> Writer:
        def mapping(value: Any) -> dict[str, Any]:
            if not isinstance(value, Mapping):
                raise problem(f"expected a dict, got {shown(value)}")
            out: dict[str, Any] = {}
            problems: list[tuple[str, str]] = []
            for key, item in value.items():
                if not isinstance(key, str):
                    problems.append((str(key), "a map's keys are text"))
                    continue
                try:
                    out[key] = values(item)
                except Invalid as error:
                    problems.extend(nested(key, error))
            if problems:
                raise Invalid(problems)
            return out

        return mapping


def _each(items: Writer, value: list[Any] | tuple[Any, ...]) -> NoReturn:
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(value):
        try:
            items(item)
        except Invalid as error:
            problems.extend(nested(f"[{index}]", error))
    raise Invalid(problems)


# -- primitives --------------------------------------------------------------------------------
def _null(value: Any) -> None:
    if value is not None:
        raise problem(f"expected None, got {shown(value)}")


def _boolean(value: Any) -> bool:
    if value is True or value is False:
        return value
    raise problem(f"expected True or False, got {shown(value)}")


def _integer(kind: str) -> Writer:
    low, high = RANGES[kind]

    def integer(value: Any) -> int:
        if type(value) is not int:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            elif not isinstance(value, int) or isinstance(value, bool):
                raise problem(f"expected an int, got {shown(value)}")
        if not low <= value <= high:
            raise problem(f"{value} is out of range for an Avro {kind}")
        return int(value)

    return integer


def _number(value: Any) -> float:
    number: float
    if type(value) is float:
        number = value
    elif not isinstance(value, int | float) or isinstance(value, bool):
        raise problem(f"expected a float, got {shown(value)}")
    else:
        try:
            number = float(value)
        except OverflowError:
            raise problem(f"{shown(value)} is too large for a double") from None
    if not math.isfinite(number):
        raise problem(f"{number} has no JSON form (JSON numbers are finite)")
    return number


def _string(value: Any) -> str:
    if type(value) is str:
        return value
    if not isinstance(value, str):
        raise problem(f"expected a str, got {shown(value)}")
    return str.__str__(value)


def _binary(size: int | None) -> Writer:
    def binary(value: Any) -> str:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise problem(f"expected bytes, got {shown(value)}")
        if size is not None and len(value) != size:
            raise problem(f"expected {size} bytes, got {len(value)}")
        return base64.b64encode(value).decode("ascii")

    return binary


_PRIMITIVES: dict[str, Writer] = {
    "null": _null,
    "boolean": _boolean,
    "float": _number,
    "double": _number,
    "string": _string,
    "bytes": _binary(None),
}


# -- logical types ---------------------------------------------------------------------------
def _timestamp(micros: bool) -> Writer:
    spec = "microseconds" if micros else "milliseconds"

    def timestamp(value: Any) -> str:
        moment: datetime
        if isinstance(value, datetime):
            moment = value
        elif type(value) is int:  # epoch milliseconds, as fastavro also takes
            try:
                moment = EPOCH + timedelta(milliseconds=value)
            except OverflowError:
                raise problem(f"{value} is not a valid epoch-millisecond time") from None
        else:
            raise problem(f"expected a datetime, got {shown(value)}")
        try:  # a naive datetime is UTC, as fastavro takes it
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except OverflowError:
            raise problem(f"{moment} is out of range in UTC") from None
        return moment.isoformat(timespec=spec)

    return timestamp


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if type(value) is int:
        try:
            return (EPOCH_DATE + timedelta(days=value)).isoformat()
        except OverflowError:
            raise problem(f"{value} days from 1970-01-01 is not a valid date") from None
    raise problem(f"expected a date, got {shown(value)}")


def _uuid(value: Any) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    raise problem(f"expected a UUID, got {shown(value)}")


def _decimal(scale: int, precision: int | None) -> Writer:
    fit = decimal_fitter(scale, precision)

    def number(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, decimal.Decimal | int):
            raise problem(f"expected a Decimal, got {shown(value)}")
        return format(fit(decimal.Decimal(value)), "f")

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
