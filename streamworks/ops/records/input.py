"""Reading the records ``streamworks produce`` is given: NDJSON, or one JSON array.

Each record remembers the line it starts on, so a reject can say ``line 3: ...``. A line
of NDJSON that is not a JSON object is a reject like a record that does not fit its
contract; a JSON array that is not valid JSON cannot be split into records at all, so it
is an error for the whole input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from streamworks.ops.records.errors import RecordInputError

__all__ = ["InputRecord", "Reject", "key_of", "read_records"]

_SHOWN = 40


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One JSON object of the input."""

    line: int
    """The line (from 1) it starts on."""
    value: dict[str, Any]
    """The object, as JSON parsed it."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that will not be produced, and why."""

    line: int
    """The line (from 1) it starts on."""
    reason: str
    """What is wrong, in one line."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")  # json reads NaN; JSON has no such thing


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def read_records(text: str) -> tuple[list[InputRecord], list[Reject]]:
    """The objects of ``text`` with their lines, and the lines that are not one.

    ``text`` whose first character (after blanks) is ``[`` is one JSON array of objects;
    anything else is NDJSON, one object per line (blank lines are skipped).
    """
    if text.lstrip().startswith("["):
        return _array(text)
    records: list[InputRecord] = []
    rejects: list[Reject] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = _DECODER.decode(line)
        except ValueError as error:
            rejects.append(Reject(number, f"not JSON: {_reason(error)}"))
            continue
        _add(records, rejects, number, value)
    return records, rejects


def _array(text: str) -> tuple[list[InputRecord], list[Reject]]:
    """The objects of one JSON array, each with the line its value starts on."""
    records: list[InputRecord] = []
    rejects: list[Reject] = []
    position = _skip_blanks(text, text.index("[") + 1)
    if text.startswith("]", position):
        position += 1
    else:
        while True:
            try:
                value, end = _DECODER.raw_decode(text, position)
            except ValueError as error:
                raise _broken(text, position, f"not JSON: {_reason(error)}") from None
            _add(records, rejects, _line(text, position), value)
            position = _skip_blanks(text, end)
            if not text.startswith((",", "]"), position):
                raise _broken(text, position, "expected , or ] after a value of the JSON array")
            position += 1
            if text[position - 1] == "]":
                break
            position = _skip_blanks(text, position)
    if text[position:].strip():
        raise _broken(text, _skip_blanks(text, position), "text after the JSON array")
    return records, rejects


def _add(records: list[InputRecord], rejects: list[Reject], line: int, value: Any) -> None:
    if isinstance(value, dict):
        records.append(InputRecord(line, value))
    else:
        rejects.append(Reject(line, f"expected a JSON object, got {_shown(value)}"))


def key_of(record: InputRecord, field: str) -> bytes:
    """The value of ``field`` as key bytes: text as it is, a number or boolean as its JSON
    text; a missing, null or nested value is a :class:`Reject`'s reason (ValueError)."""
    if field not in record.value:
        raise ValueError(f"no key: field {field} is missing")
    value = record.value[field]
    if isinstance(value, str):
        return value.encode()
    if value is None or isinstance(value, dict | list):
        raise ValueError(f"no key: field {field} is {_shown(value)}, not text or a number")
    return json.dumps(value).encode()


def _broken(text: str, position: int, reason: str) -> RecordInputError:
    line = _line(text, position)
    return RecordInputError(f"line {line}: {reason}; no record was read", line=line)


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _reason(error: ValueError) -> str:
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
