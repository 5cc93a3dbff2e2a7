"""Avro binary writers for single values: primitives and logical types, coercing as they go.

A writer is ``(value, path, out) -> None``: it accepts exactly what the matching coercer of
:mod:`streamworks.connectors.base._coerce` accepts, raising the same :class:`Invalid` (path and
reason) otherwise, and appends the value's Avro binary encoding to ``out``. Checking and encoding
in one step saves building the intermediate dict and fastavro's second walk over it.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable
from typing import Any

from streamworks.connectors.base._coerce import Invalid, _shown

__all__ = [
    "Buffer",
    "Unencodable",
    "Writer",
    "binary",
    "boolean",
    "enum",
    "integer",
    "null",
    "number",
    "optional_string",
    "put_long",
    "put_problem",
    "put_text",
    "string",
]


class Buffer(bytearray):
    """The output of one encode, plus the values found fit but not writable (see put_problem)."""

    problems: list[Unencodable] | tuple[()] = ()
    """Empty until the first is noted (a class-level default is cheaper than an __init__)."""


Writer = Callable[[Any, str, Buffer], None]
"""``(value, path, out)``: appends the Avro encoding of ``value`` or raises Invalid."""


class Unencodable(Invalid):
    """A value the coercion rules let through that Avro cannot carry (or that they choke on).

    The two-step path failed on these later, in fastavro, or with a raw exception in the
    coercer; here they are Invalid too, but a union never tries its next branch after one.
    """


_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack
# Varint bytes for 14 bits at a time (two 7-bit groups): a middle pair has both continuation
# bits set; the last one or two bytes end without one. Tables halve the time of a long
# timestamp, at about a megabyte of memory.
_GROUPS = 0x3FFF
_MORE = 0x80
_PAIR = tuple(bytes(((c & 0x7F) | _MORE, (c >> 7) | _MORE)) for c in range(_GROUPS + 1))
_LAST = tuple(
    bytes((c,)) if c < _MORE else bytes(((c & 0x7F) | _MORE, c >> 7)) for c in range(_GROUPS + 1)
)
_SHORT = 0x40
"""Lengths below this are a single varint byte (``length << 1``)."""


def put_long(out: bytearray, number: int) -> None:
    """Append ``number`` as an Avro int/long: zigzag, then 7 bits a byte, low bits first."""
    zigzag = (number << 1) ^ (number >> 63)
    while zigzag > _GROUPS:
        out += _PAIR[zigzag & _GROUPS]
        zigzag >>= 14
    out += _LAST[zigzag]


def put_text(out: Buffer, text: str, path: str) -> None:
    """Append ``text`` as an Avro string (length, then UTF-8)."""
    try:
        data = text.encode()
    except UnicodeEncodeError:
        put_problem(out, Unencodable(path, "text with a lone surrogate is not valid UTF-8"))
        return
    size = len(data)
    if size < _SHORT:
        out.append(size << 1)
    else:
        put_long(out, size)
    out += data


def put_problem(out: Buffer, problem: Unencodable) -> None:
    """Note a value that fits the rules but cannot be written; raised once the walk is over.

    The coercer checked every field before fastavro wrote any, so a misfit value later in
    the record must still win over this one: it is only noted here, not raised.
    """
    if isinstance(out.problems, list):
        out.problems.append(problem)
    else:
        out.problems = [problem]


# -- primitives ------------------------------------------------------------------------------
def null(value: Any, path: str, out: Buffer) -> None:
    """The null type: nothing is written."""
    if value is not None:
        raise Invalid(path, f"expected null, got {_shown(value)}")


def string(value: Any, path: str, out: Buffer) -> None:
    """Text, written as it is."""
    if not isinstance(value, str):
        raise Invalid(path, f"expected text, got {_shown(value)}")
    put_text(out, value, path)


def optional_string(null_index: bytes, text_index: bytes, text: bool) -> Writer:
    """A ["null", "string"] union (any order) in one call: the commonest field of all."""

    def write(value: Any, path: str, out: Buffer) -> None:
        if value is None or (text and value == ""):
            out += null_index
            return
        if not isinstance(value, str):
            raise Invalid(path, f"expected text, got {_shown(value)}")
        out += text_index
        put_text(out, value, path)

    return write


def boolean(text: bool) -> Writer:
    """true or false (and, in text mode, their spellings in any case)."""

    def write(value: Any, path: str, out: Buffer) -> None:
        if value is True or value is False:
            out.append(value)
        elif text and isinstance(value, str) and value.lower() in ("true", "false"):
            out.append(value.lower() == "true")
        else:
            raise Invalid(path, f"expected true or false, got {_shown(value)}")

    return write


def integer(kind: str, text: bool) -> Writer:
    """An int or long: integers, integral floats, and in text mode integer text."""
    low, high = _INT32 if kind == "int" else _INT64

    def write(value: Any, path: str, out: Buffer) -> None:
        if type(value) is not int:
            value = _as_integer(value, path, text)
        if not low <= value <= high:
            raise Invalid(path, f"{value} is out of range for an Avro {kind}")
        zigzag = (value << 1) ^ (value >> 63)
        while zigzag > _GROUPS:
            out += _PAIR[zigzag & _GROUPS]
            zigzag >>= 14
        out += _LAST[zigzag]

    return write


def _as_integer(value: Any, path: str, text: bool) -> int:
    if isinstance(value, str) and text:
        try:
            value = int(value.strip())
        except ValueError:
            raise Invalid(path, f"expected an integer, got {_shown(value)}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Invalid(path, f"expected an integer, got {_shown(value)}")
    return value


def number(kind: str, text: bool) -> Writer:
    """A float or double from a number (or, in text mode, number text)."""
    if kind == "double":

        def double(value: Any, path: str, out: Buffer) -> None:
            out += _DOUBLE(value if type(value) is float else _as_number(value, path, text))

        return double

    def single(value: Any, path: str, out: Buffer) -> None:
        if type(value) is not float:
            value = _as_number(value, path, text)
        try:
            out += _FLOAT(value)
        except OverflowError:  # beyond float32: infinity, as a C cast (fastavro) makes it
            out += _FLOAT(math.copysign(math.inf, value))

    return single


def _as_number(value: Any, path: str, text: bool) -> float:
    if isinstance(value, str) and text:
        try:
            value = float(value.strip())
        except ValueError:
            raise Invalid(path, f"expected a number, got {_shown(value)}") from None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise Invalid(path, f"expected a number, got {_shown(value)}")
    try:
        result = float(value)
    except OverflowError:  # an integer beyond any double
        raise Unencodable(path, f"{_shown(value)} is too large for a double") from None
    if math.isinf(result) and not isinstance(value, float):
        raise Invalid(path, f"{_shown(value)} is too large for a double")
    return result


def binary(size: int | None) -> Writer:
    """Bytes (or a fixed of ``size`` bytes) from bytes or base64 text."""

    def write(value: Any, path: str, out: Buffer) -> None:
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            try:
                data = base64.b64decode(value, validate=True)
            except binascii.Error:
                raise Invalid(path, "expected base64 text") from None
            except ValueError:  # non-ASCII text; the coercer let this escape
                raise Unencodable(path, "expected base64 text") from None
        else:
            raise Invalid(path, f"expected base64 text, got {_shown(value)}")
        if size is None:
            put_long(out, len(data))
        elif len(data) != size:
            raise Invalid(path, f"expected {size} bytes, got {len(data)}")
        out += data

    return write


def enum(symbols: list[str]) -> Writer:
    """One of ``symbols``, written as its index."""
    indexes = {symbol: bytes(_long(i)) for i, symbol in enumerate(symbols)}

    def write(value: Any, path: str, out: Buffer) -> None:
        index = indexes.get(value) if isinstance(value, str) else None
        if index is None:
            raise Invalid(path, f"expected one of {', '.join(symbols)}, got {_shown(value)}")
        out += index

    return write


def _long(number: int) -> bytearray:
    out = bytearray()
    put_long(out, number)
    return out
