"""Avro readers and writers generated for one schema: the codec's hot path in plain Python.

fastavro interprets the schema for every field of every record (about 0.5-0.8 µs a field
in its compiled reader). For a schema whose types are all simple, this module writes the
reading and writing code once, as Python source with the field order, types and union
branches already decided, and compiles it; decoding then costs about half as much and
encoding about a third.

It covers records (nested ones too), enums, arrays, maps, the primitive types with or
without a logical type (converted by fastavro's own functions), and unions of them (the
writer: unions of ``null`` and one other type). Anything else (fixed, recursive records)
gives None, and the codec keeps fastavro for that schema.
Encoding and decoding give the same bytes and values as fastavro, which a property test
checks on random schemas and records. Malformed bytes raise the errors fastavro raises for
them: ``EOFError`` for bytes that end too soon, ``IndexError`` for an enum or union index
out of range, ``ValueError`` or ``UnicodeDecodeError``. Values that do not fit raise
``TypeError``, ``ValueError``, ``AttributeError``, ``KeyError`` or ``struct.error``. The
codec turns both into its own errors.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Callable, Mapping
from typing import Any

from fastavro.read import LOGICAL_READERS
from fastavro.write import LOGICAL_WRITERS

__all__ = ["Reader", "Writer", "compile_reader", "compile_writer"]

Reader = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""``read(data, position)``: the record starting at ``position`` and the position after it."""
Writer = Callable[[Mapping[str, Any]], bytes]
"""``write(record)``: the record's bytes (after the prefix the writer was compiled with)."""

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_SMALL = 1 << 14
"""Zig-zagged values below this are written from a table of ready-made varints."""
_LIMITS = {"int": 1 << 32, "long": 1 << 64}
"""One past the largest zig-zagged value of each integer type."""
_LITERAL_DEFAULTS = frozenset(
    ("null", "boolean", "int", "long", "float", "double", "string", "enum")
)
"""Types whose JSON default is already the Python value fastavro would write."""


class Unsupported(Exception):
    """The schema uses something this module does not generate code for."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:  # noqa: PLR2004 - seven bits a byte
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_VARINTS = tuple(_varint(value) for value in range(_SMALL))
_LOW_GROUPS = tuple(bytes(((low & 0x7F) | 0x80, (low >> 7) | 0x80)) for low in range(_SMALL))
"""The two bytes a varint writes for 14 low bits when more bits follow."""


def _zigzag_slow(value: int, limit: int) -> bytes:
    """The varint of a zig-zagged ``value`` outside the table; out of range is an error.

    Written 14 bits at a time from tables: a millisecond timestamp (six bytes) takes two
    look-ups rather than six rounds of bit arithmetic.
    """
    if not 0 <= value < limit:
        raise ValueError(f"{value} does not fit a {64 if limit > 1 << 32 else 32}-bit integer")
    out = b""
    while value >= _SMALL:
        out += _LOW_GROUPS[value & (_SMALL - 1)]
        value >>= 14
    return out + _VARINTS[value]


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    shift = 7
    while byte & 0x80:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
    return (value >> 1) ^ -(value & 1), pos


def _read_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = _read_long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):  # in fastavro's words
        raise EOFError(f"Expected {size} bytes, read {max(0, len(data) - pos)}")
    return data[pos:end], end


def _symbol(symbols: tuple[str, ...], index: int) -> str:
    if not 0 <= index < len(symbols):
        raise IndexError(f"enum index {index} is not one of {len(symbols)} symbols")
    return symbols[index]


def _symbol_index(symbols: tuple[str, ...], value: Any) -> int:
    return symbols.index(value)  # a str-valued Enum member: equal to its text, not its hash


_SCOPE: dict[str, Any] = {
    "_VARINTS": _VARINTS,
    "_zigzag_slow": _zigzag_slow,
    "_read_long": _read_long,
    "_read_bytes": _read_bytes,
    "_symbol": _symbol,
    "_symbol_index": _symbol_index,
    "_StructError": struct.error,
    "_unpack_float": struct.Struct("<f").unpack_from,
    "_unpack_double": struct.Struct("<d").unpack_from,
    "_pack_float": struct.Struct("<f").pack,
    "_pack_double": struct.Struct("<d").pack,
}


class _Source:
    """Lines of generated code, fresh variable names, and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.scope: dict[str, Any] = dict(_SCOPE)
        self.named: dict[str, Any] = {}  # full name -> defined record or enum schema
        self.defining: set[str] = set()  # records being defined: a reference to one recurses
        self._count = itertools.count()

    def var(self) -> str:
        return f"v{next(self._count)}"

    def constant(self, value: Any) -> str:
        name = f"_c{next(self._count)}"
        self.scope[name] = value
        return name

    def emit(self, indent: int, *lines: str) -> None:
        self.lines.extend("    " * indent + line for line in lines)

    def resolve(self, schema: Any) -> tuple[str, Any]:
        """``(kind, definition)``: a primitive's name, or a named type's full schema."""
        if isinstance(schema, list):
            return "union", schema
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return schema, schema
            if schema in self.defining or schema not in self.named:
                raise Unsupported(schema)
            return self.resolve(self.named[schema])
        if not isinstance(schema, dict):
            raise Unsupported(str(schema))
        kind = schema.get("type")
        if kind in _PRIMITIVES:
            return str(kind), kind  # with a logical type or not: see converter()
        if kind in ("record", "error", "enum"):
            self.named[schema["name"]] = schema
            return ("enum" if kind == "enum" else "record"), schema
        if kind in ("array", "map"):
            return str(kind), schema
        raise Unsupported(str(kind))

    def converter(self, schema: Any, table: Mapping[str, Any]) -> str | None:
        """The name of fastavro's own conversion of ``schema``'s logical type in ``table``
        (its readers or its writers), as a constant; None for no logical type, or one
        fastavro does not know (it reads and writes those as their plain type)."""
        if not isinstance(schema, dict) or "logicalType" not in schema:
            return None
        convert = table.get(f"{schema['type']}-{schema['logicalType']}")
        return None if convert is None else self.constant(convert)

    def compile(self, name: str, parameters: str) -> Any:
        code = f"def {name}({parameters}):\n" + "\n".join(self.lines) + "\n"
        exec(compile(code, f"<avro {name}>", "exec"), self.scope)  # noqa: S102 - our own code
        return self.scope[name]


def compile_reader(schema: Any) -> Reader | None:
    """A reader of records written with the fastavro-parsed ``schema``; None if unsupported."""
    source = _Source()
    try:
        kind, _ = source.resolve(schema)
        if kind != "record":
            return None
        target = source.var()
        source.emit(1, "try:")
        _read(source, schema, target, 2)
    except Unsupported:
        return None
    # bytes that end inside the record fail as fastavro's reader fails them: EOFError
    source.emit(
        2,
        "if pos > len(data):",
        "    raise EOFError('the record ends past its bytes')",
        f"return {target}, pos",
    )
    source.emit(
        1,
        "except IndexError as error:",
        "    if error.args != ('index out of range',):",  # not a byte past the end
        "        raise",
        "    raise EOFError('the bytes end inside the record') from None",
        "except _StructError:",
        "    raise EOFError('the bytes end inside the record') from None",
    )
    reader: Reader = source.compile("read", "data, pos")
    return reader


def _read(source: _Source, schema: Any, target: str, indent: int) -> None:
    _read_plain(source, schema, target, indent)
    convert = source.converter(schema, LOGICAL_READERS)
    if convert is not None:  # fastavro's reader, given no reader schema, as it is given
        source.emit(indent, f"{target} = {convert}({target}, {source.constant(schema)}, None)")


def _read_long_into(source: _Source, var: str, indent: int) -> None:
    """A zig-zag varint into ``var``: one byte inline, longer ones by a call."""
    source.emit(
        indent,
        "b = data[pos]",
        "if b < 128:",
        f"    {var} = (b >> 1) ^ -(b & 1)",
        "    pos += 1",
        "else:",
        f"    {var}, pos = _read_long(data, pos)",
    )


def _read_plain(source: _Source, schema: Any, target: str, indent: int) -> None:
    kind, definition = source.resolve(schema)
    emit = source.emit
    if kind == "null":
        emit(indent, f"{target} = None")
    elif kind == "boolean":
        emit(indent, f"{target} = data[pos] != 0", "pos += 1")
    elif kind in ("int", "long", "enum"):
        _read_long_into(source, target if kind != "enum" else "i", indent)
        if kind == "enum":
            symbols = source.constant(tuple(definition["symbols"]))
            emit(indent, f"{target} = _symbol({symbols}, i)")
    elif kind in ("float", "double"):
        emit(
            indent,
            f"{target}, = _unpack_{kind}(data, pos)",
            f"pos += {4 if kind == 'float' else 8}",
        )
    elif kind in ("string", "bytes"):
        text = ".decode()" if kind == "string" else ""
        emit(
            indent,
            "b = data[pos]",
            "if b < 128 and not b & 1:",  # a length below 64: one byte, never negative
            "    e = pos + 1 + (b >> 1)",
            f"    {target} = data[pos + 1:e]{text}",
            "    pos = e",
            "else:",
            f"    {target}, pos = _read_bytes(data, pos)",
        )
        if kind == "string":
            emit(indent + 1, f"{target} = {target}.decode()")
    elif kind == "union":
        _read_union(source, definition, target, indent)
    elif kind in ("array", "map"):
        _read_blocks(source, definition, target, indent)
    else:  # record
        source.defining.add(definition["name"])
        fields = [(field["name"], source.var()) for field in definition["fields"]]
        for (_, var), field in zip(fields, definition["fields"], strict=True):
            _read(source, field["type"], var, indent)
        source.defining.discard(definition["name"])
        emit(indent, f"{target} = {{" + ", ".join(f"{n!r}: {v}" for n, v in fields) + "}")


def _read_blocks(source: _Source, definition: dict[str, Any], target: str, indent: int) -> None:
    """An array or a map: blocks of items (a negative count is followed by the block's size
    in bytes), until a block of none. Every item takes a byte at least, or the count is a
    lie: a count beyond the bytes left is refused before looping on it, so a record's
    reading takes time in proportion to its bytes."""
    array = definition["type"] == "array"
    if array and _zero_width(source, definition["items"]):
        # null items take no bytes: a count cannot be checked against the bytes left, and
        # a few bytes could ask for billions of them
        raise Unsupported("an array of items of no bytes")
    item, key = source.var(), source.var()
    source.emit(indent, f"{target} = {'[]' if array else '{}'}", "while True:")
    _read_long_into(source, "c", indent + 1)
    source.emit(
        indent + 1,
        "if c == 0:",
        "    break",
        "if c < 0:",
        "    c = -c",
        "    _, pos = _read_long(data, pos)",
        "if c > len(data) - pos:",
        "    raise ValueError(f'a block of {c} items in {len(data) - pos} bytes')",
        "for _ in range(c):",
    )
    if not array:
        _read(source, "string", key, indent + 2)
    _read(source, definition["items" if array else "values"], item, indent + 2)
    source.emit(indent + 2, f"{target}.append({item})" if array else f"{target}[{key}] = {item}")


def _zero_width(source: _Source, schema: Any) -> bool:
    """True for a type whose values may take no bytes: null, a record of such fields."""
    kind, definition = source.resolve(schema)
    if kind == "record":
        return all(_zero_width(source, field["type"]) for field in definition["fields"])
    return kind == "null"


def _read_union(source: _Source, branches: list[Any], target: str, indent: int) -> None:
    _read_long_into(source, "i", indent)
    for index, branch in enumerate(branches):
        source.emit(indent, f"{'if' if index == 0 else 'elif'} i == {index}:")
        _read(source, branch, target, indent + 1)
    source.emit(
        indent,
        "else:",
        f"    raise IndexError(f'union branch {{i}} is not one of {len(branches)}')",
    )


def compile_writer(schema: Any, prefix: bytes = b"") -> Writer | None:
    """A writer of records of the fastavro-parsed ``schema``, each output starting with
    ``prefix``; None if the schema is not supported."""
    source = _Source()
    try:
        kind, _ = source.resolve(schema)
        if kind != "record":
            return None
        source.emit(1, f"parts = [{prefix!r}]", "add = parts.append")
        _write(source, schema, "record", 1)
    except Unsupported:
        return None
    source.emit(1, "return b''.join(parts)")
    writer: Writer = source.compile("write", "record")
    return writer


def _write(source: _Source, schema: Any, value: str, indent: int) -> None:
    convert = source.converter(schema, LOGICAL_WRITERS)
    if convert is not None:  # e.g. a datetime to its milliseconds, as fastavro does it
        source.emit(indent, f"{value} = {convert}({value}, {source.constant(schema)})")
    kind, definition = source.resolve(schema)
    emit = source.emit
    if kind == "null":
        emit(
            indent, f"if {value} is not None:", f"    raise TypeError(f'{{{value}!r}} is not null')"
        )
    elif kind == "boolean":
        emit(indent, f"add(b'\\x01' if {value} else b'\\x00')")
    elif kind in ("int", "long"):
        shift = 31 if kind == "int" else 63
        emit(
            indent,
            f"n = ({value} << 1) ^ ({value} >> {shift})",
            f"add(_VARINTS[n] if 0 <= n < {_SMALL} else _zigzag_slow(n, {_LIMITS[kind]}))",
        )
    elif kind in ("float", "double"):
        emit(indent, f"add(_pack_{kind}({value}))")
    elif kind in ("string", "bytes"):
        raw = f"{value}.encode()" if kind == "string" else f"bytes({value})"
        emit(
            indent,
            f"b = {raw}",
            "n = len(b) << 1",
            f"add(_VARINTS[n] if n < {_SMALL} else _zigzag_slow(n, {_LIMITS['long']}))",
            "add(b)",
        )
    elif kind == "enum":
        symbols = tuple(definition["symbols"])
        indexes = source.constant({symbol: index for index, symbol in enumerate(symbols)})
        emit(
            indent,
            f"i = {indexes}.get({value})",
            "if i is None:",
            f"    i = _symbol_index({source.constant(symbols)}, {value})",
            "add(_VARINTS[i << 1])",
        )
    elif kind == "union":
        _write_union(source, definition, value, indent)
    elif kind in ("array", "map"):
        _write_blocks(source, definition, value, indent)
    else:
        _write_record(source, definition, value, indent)


def _write_blocks(source: _Source, definition: dict[str, Any], value: str, indent: int) -> None:
    """An array or a map as fastavro writes it: one block of all its items, then none."""
    array = definition["type"] == "array"
    if array and _zero_width(source, definition["items"]):
        raise Unsupported("an array of items of no bytes")  # as the reader (see there)
    item, key = source.var(), source.var()
    each = f"for {item} in {value}:" if array else f"for {key}, {item} in {value}.items():"
    source.emit(
        indent,
        f"n = len({value}) << 1",
        "if n:",
        f"    add(_VARINTS[n] if n < {_SMALL} else _zigzag_slow(n, {_LIMITS['long']}))",
        f"    {each}",
    )
    if not array:
        _write(source, "string", key, indent + 2)
    _write(source, definition["items" if array else "values"], item, indent + 2)
    source.emit(indent, "add(b'\\x00')")


def _write_union(source: _Source, branches: list[Any], value: str, indent: int) -> None:
    kinds = [source.resolve(branch)[0] for branch in branches]
    if len(branches) != 2 or kinds.count("null") != 1 or "union" in kinds:  # noqa: PLR2004
        raise Unsupported("a union other than null and one type")
    null = kinds.index("null")
    var = source.var()
    source.emit(
        indent,
        f"{var} = {value}",
        f"if {var} is None:",
        f"    add({_VARINTS[null << 1]!r})",
        "else:",
        f"    add({_VARINTS[(1 - null) << 1]!r})",
    )
    _write(source, branches[1 - null], var, indent + 1)


def _write_record(source: _Source, definition: dict[str, Any], value: str, indent: int) -> None:
    source.defining.add(definition["name"])
    source.emit(indent, "pass")  # a record of no fields writes nothing: the block needs a line
    for field in definition["fields"]:
        name = field["name"]
        field_kind, _ = source.resolve(field["type"])
        var = source.var()
        if "default" in field:
            default = field["default"]
            if not (
                field_kind in _LITERAL_DEFAULTS
                or (field_kind == "union" and default is None)
                or (field_kind in ("array", "map") and not default)
            ):
                raise Unsupported("a default fastavro would convert")
            source.emit(indent, f"{var} = {value}.get({name!r}, {source.constant(default)})")
        elif field_kind in {"union", "null"}:
            source.emit(indent, f"{var} = {value}.get({name!r})")
        else:
            source.emit(indent, f"{var} = {value}[{name!r}]")
        _write(source, field["type"], var, indent)
    source.defining.discard(definition["name"])
