"""The Avro codec: Confluent wire format over fastavro's schemaless reader and writer.

A framed record is ``0x00`` (magic), the writer schema's global id as 4 big-endian bytes,
then the Avro binary body. Encoders know their schema id once, up front; decoders find the
writer schema by id (cached) and, when given a reader schema, resolve the record into it
so each consumer reads with its own version.

Every failure to decode becomes a :class:`~streamworks.schemas.errors.ValueDecodeError` or
:class:`~streamworks.schemas.errors.KeyDecodeError` (never retriable: the bytes will not change),
except an unreachable registry, which is a retriable
:class:`~streamworks.schemas.errors.RegistryUnavailableError`.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from typing import Any, Protocol

import fastavro
import fastavro._read_py
import fastavro.schema

from streamworks.schemas._compiled import Reader, Writer, compile_reader, compile_writer
from streamworks.schemas.errors import (
    DecodeError,
    EncodeError,
    InvalidSchemaError,
    KeyDecodeError,
    RegistryError,
    RegistryRequestError,
    ValueDecodeError,
)

__all__ = ["MAGIC_BYTE", "AvroCodec", "AvroDecoder", "AvroEncoder", "SchemaSource"]

MAGIC_BYTE = 0
_HEADER = struct.Struct(">BI")
_DETAIL_LIMIT = 200
_HEADER_SIZE = _HEADER.size
_Read = Any  # fastavro.schemaless_reader or its pure-Python twin


class SchemaSource(Protocol):
    """Where schemas and ids come from: the registry client or an in-memory registry."""

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text registered under a global id."""
        ...

    def register(self, subject: str, schema: str) -> int:
        """Register a schema under a subject (idempotently) and return its global id."""
        ...


def parse(schema: str | Mapping[str, Any]) -> Any:
    """A fastavro-parsed schema from JSON text or data; bad schemas raise InvalidSchemaError."""
    try:
        data = json.loads(schema) if isinstance(schema, str) else dict(schema)
        return fastavro.parse_schema(data)
    except Exception as error:  # fastavro and json raise several types for bad schemas
        raise InvalidSchemaError(f"not a valid Avro schema: {error}") from error


class AvroCodec:
    """Makes encoders and decoders that share one cache of writer schemas by id."""

    def __init__(self, source: SchemaSource) -> None:
        self._source = source
        self._writers: dict[int, Any] = {}
        # schema id -> the code generated to read or write it (None: fastavro does), made
        # once per codec however many encoders and decoders ask
        self._generated_readers: dict[int, Reader | None] = {}
        self._generated_writers: dict[int, Writer | None] = {}

    def encoder(self, subject: str, schema: str | Mapping[str, Any]) -> AvroEncoder:
        """An encoder for ``schema``, registered under ``subject`` now (once)."""
        text = schema if isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))
        parsed = parse(text)
        schema_id = self._source.register(subject, text)
        self._writers.setdefault(schema_id, parsed)
        if schema_id not in self._generated_writers:
            self._generated_writers[schema_id] = compile_writer(
                parsed, prefix=_HEADER.pack(MAGIC_BYTE, schema_id)
            )
        return AvroEncoder(subject, schema_id, parsed, write=self._generated_writers[schema_id])

    def generated_reader(self, schema_id: int) -> Reader | None:
        """The reader generated for records written with ``schema_id`` as they were written
        (:mod:`streamworks.schemas._compiled`); None when fastavro must read them."""
        if schema_id not in self._generated_readers:
            self._generated_readers[schema_id] = compile_reader(self.writer_schema(schema_id))
        return self._generated_readers[schema_id]

    def decoder(
        self, reader_schema: str | Mapping[str, Any] | None = None, *, key: bool = False
    ) -> AvroDecoder:
        """A decoder reading with ``reader_schema`` (or each record's own writer schema)."""
        reader = parse(reader_schema) if reader_schema is not None else None
        return AvroDecoder(self, reader, KeyDecodeError if key else ValueDecodeError)

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed writer schema of ``schema_id``, fetched once and then cached."""
        parsed = self._writers.get(schema_id)
        if parsed is None:
            parsed = parse(self._source.schema_by_id(schema_id))
            self._writers[schema_id] = parsed
        return parsed


class AvroEncoder:
    """Frames records of one schema; ``encode`` is the hot path.

    ``write`` is the code :meth:`AvroCodec.encoder` generated for the schema (header
    included, :mod:`streamworks.schemas._compiled`); without it fastavro writes.
    """

    __slots__ = ("_header", "_parsed", "_write", "schema_id", "subject")

    def __init__(
        self, subject: str, schema_id: int, parsed: Any, *, write: Writer | None = None
    ) -> None:
        self.subject = subject
        self.schema_id = schema_id
        self._parsed = parsed
        self._header = _HEADER.pack(MAGIC_BYTE, schema_id)
        self._write = write

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """The framed Avro bytes of ``record``; a record that does not fit raises EncodeError."""
        if self._write is not None:
            try:
                return self._write(record)
            except Exception as error:  # a misfit value, or fastavro's logical converters'
                raise self._unfit(error) from error
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            fastavro.schemaless_writer(buffer, self._parsed, record)
        except Exception as error:  # fastavro raises Value/Type/Key/Attribute errors here
            raise self._unfit(error) from error
        return buffer.getvalue()

    def _unfit(self, error: Exception) -> EncodeError:
        return EncodeError(
            f"record does not fit schema id {self.schema_id} of {self.subject}: "
            f"{type(error).__name__}: {error}",
            subject=self.subject,
        )


class AvroDecoder:
    """Reads framed records written with any registered schema; ``decode`` is the hot path."""

    __slots__ = ("_codec", "_error", "_plans", "_reader", "_reader_form")

    def __init__(self, codec: AvroCodec, reader: Any, error: type[DecodeError]) -> None:
        self._codec = codec
        self._reader = reader
        self._reader_form = (
            fastavro.schema.to_parsing_canonical_form(reader) if reader is not None else None
        )
        # schema id -> (writer schema, reader schema or None, read function): resolution is
        # skipped when the writer's canonical form equals the reader's (half the decode time)
        self._plans: dict[int, tuple[Any, Any, Reader]] = {}
        self._error = error

    def decode(
        self,
        data: bytes | None,
        *,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """The record in ``data``, resolved into the reader schema if there is one."""
        where = (topic, partition, offset)
        if not data or len(data) < _HEADER_SIZE:
            size = len(data) if data else 0
            raise self._fail(f"{size} byte(s), fewer than the {_HEADER_SIZE}-byte header", where)
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC_BYTE:
            reason = f"magic byte is {magic}, not {MAGIC_BYTE}: not Confluent-framed Avro"
            raise self._fail(reason, where)
        plan = self._plans.get(schema_id)
        if plan is None:
            plan = self._plan(schema_id, topic, partition, offset)
        try:
            record, end = plan[2](data, _HEADER_SIZE)
        except Exception as error:  # any failure inside the body is bad bytes
            raise self._fail(_body_problem(error, plan), where, schema_id) from error
        if end != len(data):
            reason = f"{len(data) - end} byte(s) left after the record"
            raise self._fail(reason, where, schema_id)
        if not isinstance(record, dict):
            raise self._fail("the schema is not a record schema", where, schema_id)
        return record

    def _fail(
        self,
        reason: str,
        where: tuple[str | None, int | None, int | None],
        schema_id: int | None = None,
    ) -> DecodeError:
        topic, partition, offset = where
        return self._error(
            reason, topic=topic, partition=partition, offset=offset, schema_id=schema_id
        )

    def _plan(
        self, schema_id: int, topic: str | None, partition: int | None, offset: int | None
    ) -> tuple[Any, Any, Reader]:
        writer = self._fetch(schema_id, topic, partition, offset)
        same = self._reader is None or (
            self._reader_form == fastavro.schema.to_parsing_canonical_form(writer)
        )
        # A recursive schema's values nest as deep as their bytes say, and fastavro's
        # compiled reader recurses on the C stack: a few thousand levels kill the process.
        # Its pure-Python reader stops at the interpreter's recursion limit instead, with a
        # RecursionError that fails the decode like any other bad body. A schema of simple
        # types read as written gets a reader generated for it (never recursive).
        reader = None if same else self._reader
        compiled = self._codec.generated_reader(schema_id) if same else None
        if compiled is not None:
            read: Reader = compiled
        elif _recursive(writer):
            read = _from_buffer(fastavro._read_py.schemaless_reader, writer, reader)
        else:
            read = _from_buffer(fastavro.schemaless_reader, writer, reader)
        plan = (writer, reader, read)
        self._plans[schema_id] = plan
        return plan

    def _fetch(
        self, schema_id: int, topic: str | None, partition: int | None, offset: int | None
    ) -> Any:
        try:
            return self._codec.writer_schema(schema_id)
        except RegistryRequestError as error:  # not found: these bytes can never be read
            reason = f"schema id {schema_id} is not in the registry"
            raise self._fail(reason, (topic, partition, offset), schema_id) from error
        except InvalidSchemaError as error:
            reason = f"schema id {schema_id} is not valid Avro: {error}"
            raise self._fail(reason, (topic, partition, offset), schema_id) from error
        except RegistryError:
            raise  # unreachable registry: retriable, the record is fine


def _from_buffer(read: _Read, writer: Any, reader: Any) -> Reader:
    """A fastavro reader with a generated reader's signature: bytes and start in, record and
    end out."""

    def run(data: bytes, start: int) -> tuple[Any, int]:
        buffer = io.BytesIO(data)
        buffer.seek(start)
        return read(buffer, writer, reader), buffer.tell()

    return run


def _recursive(schema: Any, enclosing: frozenset[str] = frozenset()) -> bool:
    """True when a record of the (parsed) ``schema`` refers to itself, directly or not."""
    if isinstance(schema, str):
        return schema in enclosing
    if isinstance(schema, list):
        return any(_recursive(branch, enclosing) for branch in schema)
    if not isinstance(schema, dict):
        return False
    if schema.get("type") in ("record", "error"):
        enclosing = enclosing | {schema["name"]}
    return any(_recursive(child, enclosing) for child in _children(schema))


def _children(schema: dict[str, Any]) -> list[Any]:
    """The schemas directly inside a record, array, map or nested type definition."""
    kind = schema.get("type")
    if kind in ("record", "error"):
        return [f["type"] for f in schema.get("fields", ())]
    if kind == "array":
        return [schema["items"]]
    if kind == "map":
        return [schema["values"]]
    return [kind] if isinstance(kind, dict | list) else []


def _schema_name(schema: Any) -> str:
    return str(schema.get("name", "?")) if isinstance(schema, dict) else str(schema)


def _body_problem(error: Exception, plan: tuple[Any, Any, Reader]) -> str:
    """One short line for a body that would not decode (fastavro's texts embed schemas)."""
    if type(error).__name__ == "SchemaResolutionError" and plan[1] is not None:
        return (
            f"Avro body is invalid: written as {_schema_name(plan[0])}, which cannot be read "
            f"as {_schema_name(plan[1])}"
        )
    detail = str(error)
    if len(detail) > _DETAIL_LIMIT:
        detail = detail[:_DETAIL_LIMIT] + "..."
    return f"Avro body is invalid: {type(error).__name__}: {detail}"
