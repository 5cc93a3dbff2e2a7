"""Line formats: CSV and JSON lines in (one physical line per record), JSON documents out.

Each input line is parsed on its own, so a broken line (bad JSON, an unbalanced quote, the
wrong number of columns, bytes that are not UTF-8) is one :class:`MalformedLine` and never
swallows its neighbours. CSV fields may therefore not contain line breaks.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, Literal

__all__ = [
    "Format",
    "LineParser",
    "MalformedLine",
    "format_of",
    "parser_for",
]

Format = Literal["csv", "jsonl"]
LineParser = Callable[[bytes], dict[str, Any]]
"""Parses one line (without its line break) into a record; raises MalformedLine."""

_SUFFIXES: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_BOM = b"\xef\xbb\xbf"


class MalformedLine(ValueError):
    """A line that cannot be parsed; the message says why."""


def format_of(name: str) -> Format | None:
    """The format a file name's suffix implies, or None."""
    return _SUFFIXES.get(PurePath(name).suffix.lower())


def decode(raw: bytes) -> str:
    """``raw`` as UTF-8 text without its line break; MalformedLine if it is not UTF-8."""
    try:
        return raw.rstrip(b"\r\n").decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedLine(f"not UTF-8 text (byte {error.start}: {error.reason})") from None


def parser_for(fmt: Format, header: bytes | None = None, delimiter: str = ",") -> LineParser:
    """The line parser of ``fmt``; CSV needs the file's first line as ``header``."""
    if fmt == "jsonl":
        return _jsonl
    if header is None:
        raise MalformedLine("a CSV file needs a header line")
    names = _csv_fields(decode(header.removeprefix(_BOM)), delimiter)
    if not names or any(not n.strip() for n in names):
        raise MalformedLine("the CSV header has an empty column name")
    if len(set(names)) != len(names):
        raise MalformedLine("the CSV header names a column twice")
    return _CsvLine([n.strip() for n in names], delimiter)


def _jsonl(raw: bytes) -> dict[str, Any]:
    text = decode(raw)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedLine(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(value, dict):
        raise MalformedLine(f"expected a JSON object, got {type(value).__name__}")
    return value


def _csv_fields(text: str, delimiter: str) -> list[str]:
    if '"' not in text:  # the common case needs no quote handling
        return text.split(delimiter)
    try:
        rows = list(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error as error:
        raise MalformedLine(f"not valid CSV ({error})") from None
    return rows[0] if rows else []


class _CsvLine:
    """Parses data lines of one CSV file against its header's column names."""

    def __init__(self, names: list[str], delimiter: str) -> None:
        self.names = names
        self.delimiter = delimiter

    def __call__(self, raw: bytes) -> dict[str, Any]:
        fields = _csv_fields(decode(raw), self.delimiter)
        if len(fields) != len(self.names):
            raise MalformedLine(f"{len(fields)} columns where the header has {len(self.names)}")
        return dict(zip(self.names, fields, strict=True))


def shown(raw: bytes) -> str:
    """A line as text for a dead letter (undecodable bytes replaced)."""
    return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
