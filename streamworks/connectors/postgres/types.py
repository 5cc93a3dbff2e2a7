"""Avro types to PostgreSQL column types, and fastavro values to what psycopg writes.

=====================================  ==============================  ========================
Avro                                   PostgreSQL                      value written
=====================================  ==============================  ========================
boolean                                boolean                         bool
int                                    integer                         int
long                                   bigint                          int
float / double                         real / double precision         float
bytes, fixed                           bytea                           bytes
string, enum                           text                            str
string, logicalType uuid               uuid                            UUID (or UUID text)
long, timestamp-millis / -micros       timestamptz                     aware datetime (UTC)
long, local-timestamp-millis / -micros timestamp                       naive datetime
int, date                              date                            date
int time-millis, long time-micros      time                            time
bytes/fixed, decimal(p, s)             numeric(p, s)                   Decimal
record, array, map, other unions       jsonb                           JSON (see below)
["null", T] (either order)             T, nullable                     None is NULL
=====================================  ==============================  ========================

Every other field is ``NOT NULL``. In jsonb, timestamps and dates are ISO 8601 text, UUIDs
and decimals text, bytes base64 text.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from streamworks.connectors.base.errors import ConnectorConfigError

try:
    from psycopg.types.json import Jsonb
except ModuleNotFoundError as _missing:  # pragma: no cover - exercised by a unit test
    raise ConnectorConfigError(
        "the postgres connector needs psycopg 3: pip install 'streamworks[postgres]'"
    ) from _missing

__all__ = ["Column", "PgType", "UnsupportedSchemaError", "columns_of"]

Adapt = Callable[[Any], Any]


class UnsupportedSchemaError(ConnectorConfigError):
    """A topic's schema cannot become a table (not a record, or a field Avro forbids)."""


@dataclass(frozen=True, slots=True)
class PgType:
    """A PostgreSQL column type and how values of it are handed to psycopg."""

    ddl: str
    """The type as written in CREATE TABLE: ``numeric(12,2)``, ``double precision``."""
    copy_name: str
    """The type's name for a binary COPY (``numeric``, ``float8``)."""
    adapt: Adapt | None = None
    """Turns a decoded Avro value (never None) into what psycopg dumps as this type."""
    parse: Adapt | None = None
    """Turns key text (a Kafka key) into a value of this type; None: not usable as a key."""

    @property
    def scalar(self) -> bool:
        """Whether the type can be a key column (compared and parsed from key text)."""
        return self.parse is not None


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a sink table: a field of the topic's value schema."""

    name: str
    """The Avro field name, used as the (quoted, case-kept) column name."""
    type: PgType
    """Its PostgreSQL type."""
    nullable: bool
    """Whether the field's schema allows null (a ``["null", T]`` union)."""


def _to_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _to_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int) and not isinstance(value, bool):  # epoch millis, undecoded
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    raise TypeError(f"expected a datetime, got {type(value).__name__}")


def _parse_instant(text: str) -> datetime:
    stripped = text.strip()
    if stripped.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(stripped) / 1000, tz=UTC)
    return _to_instant(datetime.fromisoformat(stripped))


def _parse_boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return lowered == "true"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_text(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _to_json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=_json_text)


BOOLEAN = PgType("boolean", "bool", parse=_parse_boolean)
INTEGER = PgType("integer", "int4", parse=int)
BIGINT = PgType("bigint", "int8", parse=int)
REAL = PgType("real", "float4", parse=float)
DOUBLE = PgType("double precision", "float8", parse=float)
BYTEA = PgType("bytea", "bytea", parse=None)
TEXT = PgType("text", "text", parse=str)
UUID = PgType("uuid", "uuid", adapt=_to_uuid, parse=uuid.UUID)
TIMESTAMPTZ = PgType("timestamptz", "timestamptz", adapt=_to_instant, parse=_parse_instant)
TIMESTAMP = PgType("timestamp", "timestamp", parse=datetime.fromisoformat)
DATE = PgType("date", "date", parse=date.fromisoformat)
TIME = PgType("time", "time", parse=time.fromisoformat)
JSONB = PgType("jsonb", "jsonb", adapt=_to_json, parse=None)

_PRIMITIVES = {
    "boolean": BOOLEAN,
    "int": INTEGER,
    "long": BIGINT,
    "float": REAL,
    "double": DOUBLE,
    "bytes": BYTEA,
    "string": TEXT,
}
_LOGICAL = {
    ("string", "uuid"): UUID,
    ("long", "timestamp-millis"): TIMESTAMPTZ,
    ("long", "timestamp-micros"): TIMESTAMPTZ,
    ("long", "local-timestamp-millis"): TIMESTAMP,
    ("long", "local-timestamp-micros"): TIMESTAMP,
    ("int", "date"): DATE,
    ("int", "time-millis"): TIME,
    ("long", "time-micros"): TIME,
}
_NUMERIC_MAX_PRECISION = 1000


def columns_of(schema: Mapping[str, Any]) -> tuple[Column, ...]:
    """The columns of a table for records of ``schema`` (an Avro record as JSON data)."""
    if not isinstance(schema, Mapping) or schema.get("type") != "record":
        raise UnsupportedSchemaError("only record schemas become tables; this one is not")
    named: dict[str, Mapping[str, Any]] = {}
    _collect(schema, "", named)
    space = str(schema.get("namespace", ""))
    result = []
    for field in schema["fields"]:
        pg_type, nullable = _map(field["type"], space, named)
        result.append(Column(str(field["name"]), pg_type, nullable))
    return tuple(result)


def _full_name(schema: Mapping[str, Any], namespace: str) -> tuple[str, str]:
    name = str(schema["name"])
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    space = str(schema.get("namespace", namespace))
    return (f"{space}.{name}" if space else name), space


def _collect(schema: Any, namespace: str, named: dict[str, Mapping[str, Any]]) -> None:
    """Record every named type (record, enum, fixed) by full and short name."""
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, namespace, named)
        return
    if not isinstance(schema, Mapping):
        return
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        full, space = _full_name(schema, namespace)
        named.setdefault(full, schema)
        named.setdefault(full.rsplit(".", 1)[-1], schema)
        for field in schema.get("fields", ()):
            _collect(field["type"], space, named)
    elif kind == "array":
        _collect(schema["items"], namespace, named)
    elif kind == "map":
        _collect(schema["values"], namespace, named)
    elif isinstance(kind, Mapping | list):
        _collect(kind, namespace, named)


def _map(avro: Any, namespace: str, named: Mapping[str, Mapping[str, Any]]) -> tuple[PgType, bool]:
    """``(column type, nullable)`` for an Avro type."""
    if isinstance(avro, list):
        others = [branch for branch in avro if branch != "null"]
        nullable = len(others) < len(avro)
        if len(others) == 1:
            return _map(others[0], namespace, named)[0], nullable
        return JSONB, nullable
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro], False
        if avro == "null":
            raise UnsupportedSchemaError("a field of type null cannot be a column")
        found = named.get(avro) or named.get(f"{namespace}.{avro}")
        if found is None:
            raise UnsupportedSchemaError(f"unknown Avro type {avro!r}")
        return _map_complex(found, namespace, named), False
    return _map_complex(avro, namespace, named), False


def _map_complex(
    avro: Mapping[str, Any], namespace: str, named: Mapping[str, Mapping[str, Any]]
) -> PgType:
    kind = avro.get("type")
    logical = avro.get("logicalType")
    if logical == "decimal" and kind in ("bytes", "fixed"):
        return _numeric(avro)
    special = (
        _LOGICAL.get((kind, logical))
        if isinstance(kind, str) and isinstance(logical, str)
        else None
    )
    if special is not None:
        return special
    if kind == "enum":
        return TEXT
    if kind == "fixed":
        return BYTEA
    if kind in ("record", "error", "array", "map"):
        return JSONB
    return _map(kind, namespace, named)[0]  # {"type": "long"} and unknown logical types


def _numeric(avro: Mapping[str, Any]) -> PgType:
    precision = int(avro.get("precision", 0))
    scale = int(avro.get("scale", 0))
    if 1 <= precision <= _NUMERIC_MAX_PRECISION and 0 <= scale <= precision:
        return PgType(f"numeric({precision},{scale})", "numeric", parse=Decimal)
    return PgType("numeric", "numeric", parse=Decimal)
