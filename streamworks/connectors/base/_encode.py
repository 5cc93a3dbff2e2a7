"""Checking JSON-like values (or CSV text) against an Avro schema and encoding them in one pass.

:func:`compile_encoder` is :func:`streamworks.connectors.base._coerce.compile_schema` followed by
fastavro's ``schemaless_writer``, fused: the same values are accepted, the same
:class:`Invalid` (path and reason) is raised for the rest, and the bytes are the ones
fastavro writes for the coerced value, but no intermediate dict is built and the schema is
walked once. A schema compiles to a tree of writers that append to one buffer; everything
that does not depend on the value (branch indexes, enum indexes, default encodings) is
worked out up front.

Where fastavro would pick a union branch other than the one whose rules accepted the value
(it matches the coerced value against each branch again), this writes the accepting
branch, with one exception kept for byte equality: a value a ``float`` branch accepts is
written to a later ``double`` branch, as fastavro does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streamworks.connectors.base import _encode_logical as logical_types
from streamworks.connectors.base import _encode_scalars as scalars
from streamworks.connectors.base._coerce import Invalid, _shown
from streamworks.connectors.base._encode_scalars import (
    Buffer,
    Unencodable,
    Writer,
    put_long,
    put_text,
)
from streamworks.schemas.walk import SchemaWalker

__all__ = ["Encoder", "Invalid", "Unencodable", "compile_encoder"]

Encoder = Callable[[Any, str], bytes]
"""``(value, path) -> Avro binary``; raises :class:`Invalid`."""

_MISSING = object()


def compile_encoder(schema: Any, *, text: bool = False, prefix: bytes = b"") -> Encoder:
    """An encoder for ``schema`` (Avro schema as JSON data); its bytes start with ``prefix``."""
    write = _Compiler(schema, text).build(schema, "")

    def encode(value: Any, path: str) -> bytes:
        out = Buffer(prefix)
        write(value, path, out)
        if out.problems:
            raise out.problems[0]
        return bytes(out)

    return encode


class _Default:
    """A field's default, encoded on first use (its type may be a record still compiling)."""

    __slots__ = ("_compiler", "_spec", "data")

    def __init__(self, compiler: _Compiler, spec: Mapping[str, Any]) -> None:
        self._compiler = compiler
        self._spec = spec
        self.data: bytes | None = None

    def resolve(self, path: str) -> bytes:
        """The default's bytes; the value was the schema's, so it is never text-mode parsed."""
        if self.data is None:
            default = self._spec["default"]
            out = Buffer(b"")
            try:
                self._compiler.plain().field_writers[id(self._spec)](default, path, out)
                if out.problems:
                    raise out.problems[0]
            except Invalid as error:
                reason = f"missing, and the schema's default {_shown(default)} does not fit"
                raise Unencodable(path, f"{reason}: {error.reason}") from None
            self.data = bytes(out)
        return self.data


class _Compiler(SchemaWalker[Writer]):
    def __init__(self, root: Any, text: bool) -> None:
        super().__init__()
        self.root = root
        self.text = text
        self.field_writers: dict[int, Writer] = {}
        self._plain: _Compiler | None = None

    def plain(self) -> _Compiler:
        """A compiler of the same schema outside text mode (for defaults); itself if it is."""
        if not self.text:
            return self
        if self._plain is None:
            self._plain = _Compiler(self.root, text=False)
            self._plain.build(self.root, "")
        return self._plain

    def _enum(self, symbols: list[str]) -> Writer:
        return scalars.enum(symbols)

    def _array(self, items: Writer) -> Writer:
        return _array(items)

    def _map(self, values: Writer) -> Writer:
        return _map(values)

    def _fixed(self, size: int) -> Writer:
        return scalars.binary(size)

    def _record(self, schema: Mapping[str, Any], namespace: str) -> Writer:
        fields: list[tuple[str, Writer, _Default | None]] = []
        names: set[str] = set()

        def record(value: Any, path: str, out: Buffer) -> None:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise Invalid(path, f"expected an object, got {_shown(value)}")
            if not names.issuperset(value):
                unknown = next(str(k) for k in value if k not in names)
                where = f"{path}.{unknown}" if path else unknown
                raise Invalid(where, "unknown field (not in the topic's schema)")
            get = value.get
            for name, write, default in fields:
                item = get(name, _MISSING)
                if item is not _MISSING:
                    write(item, f"{path}.{name}" if path else name, out)
                elif default is not None:
                    data = default.data
                    out += (
                        default.resolve(f"{path}.{name}" if path else name)
                        if data is None
                        else data
                    )
                else:
                    raise Invalid(f"{path}.{name}" if path else name, "missing required field")

        self._register(schema, namespace, record)  # recursive types refer to themselves
        space = str(schema.get("namespace", namespace))
        for spec in schema["fields"]:
            names.add(spec["name"])
            write = self.build(spec["type"], space)
            self.field_writers[id(spec)] = write
            fields.append(
                (spec["name"], write, _Default(self, spec) if "default" in spec else None)
            )
        return record

    def _union(self, writers: list[Writer], schema: list[Any]) -> Writer:
        nullable = "null" in schema
        null_index = bytes(_long(schema.index("null"))) if nullable else b""
        branches = [
            _branch(i, writers, schema) for i, branch in enumerate(schema) if branch != "null"
        ]
        text = self.text
        if nullable and len(branches) == 1:  # ["null", T], by far the most common union
            only_index, only = branches[0]
            if only is scalars.string:
                return scalars.optional_string(null_index, only_index, text)

            def optional(value: Any, path: str, out: Buffer) -> None:
                if value is None or (text and value == ""):
                    out += null_index
                else:
                    out += only_index
                    only(value, path, out)

            return optional

        def union(value: Any, path: str, out: Buffer) -> None:
            if value is None or (text and nullable and value == ""):
                if nullable:
                    out += null_index
                    return
                raise Invalid(path, "may not be null")
            first: Invalid | None = None
            mark, noted = len(out), len(out.problems)
            for index, write in branches:
                out += index
                try:
                    write(value, path, out)
                except Unencodable:
                    raise
                except Invalid as error:
                    del out[mark:]
                    if out.problems:
                        out.problems = out.problems[:noted]
                    first = first or error
                else:
                    return
            raise first or Invalid(path, f"no branch of the union accepts {_shown(value)}")

        return union

    # -- primitives and logical types -------------------------------------------------------
    def _primitive(self, kind: str) -> Writer:
        if kind == "null":
            return scalars.null
        if kind == "string":
            return scalars.string
        if kind == "boolean":
            return scalars.boolean(self.text)
        if kind in ("int", "long"):
            return scalars.integer(kind, self.text)
        if kind in ("float", "double"):
            return scalars.number(kind, self.text)
        if kind == "bytes":
            return scalars.binary(None)
        raise Invalid("", f"unsupported Avro type {kind!r}")

    def _logical(self, logical: str, kind: Any, schema: Mapping[str, Any]) -> Writer | None:
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return logical_types.timestamp(logical == "timestamp-micros", self.text)
        if logical == "date" and kind == "int":
            return logical_types.date_days
        if logical == "uuid" and kind == "string":
            return logical_types.uuid_text
        if logical == "decimal" and kind == "bytes":
            precision = schema.get("precision")
            return logical_types.decimal_bytes(
                int(schema.get("scale", 0)), None if precision is None else int(precision)
            )
        return None  # unknown logical types are their underlying type (Avro's rule)


def _branch(i: int, writers: list[Writer], schema: list[Any]) -> tuple[bytes, Writer]:
    """Branch ``i``'s index bytes and writer; a float branch defers to a later double."""
    if _kind(schema[i]) == "float":
        for later in range(i + 1, len(schema)):
            if _kind(schema[later]) == "double":
                return bytes(_long(later)), writers[later]
    return bytes(_long(i)), writers[i]


def _kind(schema: Any) -> Any:
    return schema.get("type") if isinstance(schema, dict) else schema


def _long(number: int) -> bytearray:
    out = bytearray()
    put_long(out, number)
    return out


def _array(items: Writer) -> Writer:
    def array(value: Any, path: str, out: Buffer) -> None:
        if not isinstance(value, list):
            raise Invalid(path, f"expected an array, got {_shown(value)}")
        if value:
            put_long(out, len(value))
            for i, item in enumerate(value):
                items(item, f"{path}[{i}]", out)
        out.append(0)

    return array


def _map(values: Writer) -> Writer:
    def mapping(value: Any, path: str, out: Buffer) -> None:
        if type(value) is not dict and not isinstance(value, Mapping):
            raise Invalid(path, f"expected an object, got {_shown(value)}")
        if value:
            put_long(out, len(value))
            for key, item in value.items():
                put_text(out, str(key), f"{path}.{key}")
                values(item, f"{path}.{key}", out)
        out.append(0)

    return mapping
