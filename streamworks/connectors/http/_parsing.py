"""Turning a request body into records: one JSON object, a JSON array of them, or NDJSON.

Parsing never raises for bad input: it returns the objects it could read and one
:class:`Problem` per thing that is wrong, so the answer can list every bad record at once.
orjson parses when it is installed (it is several times faster); the standard library's
json is the fallback, made as strict as orjson (UTF-8 only, no NaN, bounded depth).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Parsed", "Problem", "dumps", "parse_json", "parse_ndjson"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Why (part of) a request body cannot be accepted."""

    message: str
    """What is wrong, in one line."""
    index: int | None = None
    """Position of the bad record in a JSON array (0-based), if the body is one."""
    line: int | None = None
    """Line of the bad record in an NDJSON body (1-based), if the body is one."""
    field: str | None = None
    """Dotted path of the offending field, when one is to blame."""

    def to_json(self) -> dict[str, Any]:
        """The problem as it appears in a 400 answer (absent positions left out)."""
        out: dict[str, Any] = {}
        if self.index is not None:
            out["index"] = self.index
        if self.line is not None:
            out["line"] = self.line
        out["field"] = self.field
        out["message"] = self.message
        return out


@dataclass(slots=True)
class Parsed:
    """The objects of a body, each with its position, and what was wrong with the rest."""

    unit: Literal["index", "line"]
    """How positions count: array index (from 0) or NDJSON line (from 1)."""
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    """``(position, object)`` pairs, in body order."""
    problems: list[Problem] = field(default_factory=list)
    """Everything wrong with the body, in body order."""

    def location(self, at: int) -> str:
        """Where a record came from, for logs and lineage headers."""
        return f"line {at}" if self.unit == "line" else f"record {at}"

    def problem(self, at: int | None, message: str, field: str | None = None) -> Problem:
        """A problem of the record at ``at`` (None: of the whole body)."""
        if at is None:
            return Problem(message, field=field)
        if self.unit == "line":
            return Problem(message, line=at, field=field)
        return Problem(message, index=at, field=field)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _std_loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _std_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


_loads: Callable[[bytes], Any]
dumps: Callable[[Any], bytes]
"""JSON text of ``value`` as bytes (orjson when installed)."""
try:
    import orjson

    _loads, dumps = orjson.loads, orjson.dumps
except ImportError:  # pragma: no cover - orjson is optional
    _loads, dumps = _std_loads, _std_dumps


def _reason(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"malformed JSON: {text}"


def _kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def parse_json(body: bytes) -> Parsed:
    """Records of a JSON body: one object or an array of objects."""
    parsed = Parsed("index")
    try:
        document = _loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        parsed.problems.append(Problem(_reason(error)))
        return parsed
    if isinstance(document, dict):
        parsed.records.append((0, document))
    elif isinstance(document, list):
        for i, item in enumerate(document):
            if isinstance(item, dict):
                parsed.records.append((i, item))
            else:
                parsed.problems.append(Problem(f"expected an object, got {_kind(item)}", index=i))
    else:
        message = f"expected an object or an array of objects, got {_kind(document)}"
        parsed.problems.append(Problem(message))
    return parsed


def parse_ndjson(body: bytes) -> Parsed:
    """Records of an NDJSON body: one object per line, blank lines ignored."""
    parsed = Parsed("line")
    records, problems = parsed.records, parsed.problems
    for number, line in enumerate(body.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        try:
            value = _loads(line)
        except (ValueError, RecursionError) as error:
            problems.append(Problem(_reason(error), line=number))
            continue
        if isinstance(value, dict):
            records.append((number, value))
        else:
            problems.append(Problem(f"expected an object, got {_kind(value)}", line=number))
    return parsed
