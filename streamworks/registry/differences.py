"""Why a schema is incompatible, in the words Confluent's registry uses.

Confluent's registry explains a refused schema with one entry per difference Avro's
reader/writer check finds, then the version it compared with, that version's schema and
the level::

    {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'zip' at path
    '/fields/2' in the new schema has no default value and is missing in the old schema',
    additionalInfo:'zip'}, {oldSchemaVersion: 1}, {oldSchema: '...'}, {validateFields:
    'false', compatibility: 'BACKWARD'}

Clients and tools show (and match on) these texts, so the registry answers with them. The
check below walks a reader and a writer schema the way Avro Java's ``SchemaCompatibility``
does (same order, same locations, same messages), and :func:`explain` arranges the entries
as Confluent's ``SchemaValidatorBuilder`` and ``KafkaSchemaRegistry`` do: versions newest
first, the first incompatible one only for transitive levels, FULL's forward findings
before its backward ones. ``streamworks schemas check`` keeps its own prose
(:mod:`streamworks.schemas.compatibility`); the verdict is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import avro.schema

__all__ = ["Difference", "OldSchema", "differences", "explain"]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_PROMOTIONS = {
    "long": {"int"},
    "float": {"int", "long"},
    "double": {"int", "long", "float"},
    "bytes": {"string"},
    "string": {"bytes"},
}
"""Writer types a reader type takes besides its own (Avro's promotions)."""

_DESCRIPTIONS = {
    "FIXED_SIZE_MISMATCH": "The size of FIXED type field at path '{path}' in the {reader} "
    "schema does not match with the {writer} schema",
    "TYPE_MISMATCH": "The type (path '{path}') of a field in the {reader} schema does not "
    "match with the {writer} schema",
    "NAME_MISMATCH": "The name of the schema has changed (path '{path}')",
    "MISSING_ENUM_SYMBOLS": "The {reader} schema is missing enum symbols '{info}' at path "
    "'{path}' in the {writer} schema",
    "MISSING_UNION_BRANCH": "The {reader} schema is missing a type inside a union field at "
    "path '{path}' in the {writer} schema",
    "READER_FIELD_MISSING_DEFAULT_VALUE": "The field '{info}' at path '{path}' in the {reader} "
    "schema has no default value and is missing in the {writer} schema",
}


@dataclass(frozen=True)
class Difference:
    """One reason a reader cannot read what a writer wrote."""

    kind: str
    """Avro's incompatibility type, e.g. ``TYPE_MISMATCH``."""
    path: str
    """Where, in the reader schema: ``/fields/1/type``."""
    info: str
    """Avro's message: ``reader type: STRING not compatible with writer type: LONG``."""

    def entry(self, reader: str, writer: str) -> str:
        """The entry Confluent writes, the reader and writer called ``reader`` and ``writer``
        (``new``/``old``)."""
        description = _DESCRIPTIONS[self.kind].format(
            path=self.path, reader=reader, writer=writer, info=self.info
        )
        return (
            f"{{errorType:'{self.kind}', description:'{description}', "
            f"additionalInfo:'{self.info}'}}"
        )


@dataclass(frozen=True)
class OldSchema:
    """A registered version to compare with."""

    version: int
    schema: avro.schema.Schema
    text: str
    """Its canonical text, as the registry serves it."""


def explain(new: avro.schema.Schema, olds: Sequence[OldSchema], level: str) -> list[str]:
    """Confluent's messages for ``new`` against ``olds`` (oldest first) under ``level``;
    empty when compatible."""
    if level == "NONE" or not olds:
        return []
    backward = level.startswith(("BACKWARD", "FULL"))
    forward = level.startswith(("FORWARD", "FULL"))
    candidates = list(reversed(olds))  # Confluent checks the newest first
    if not level.endswith("_TRANSITIVE"):
        candidates = candidates[:1]
    for old in candidates:
        messages: list[str] = []
        if forward:  # the old schema reads what the new one writes
            found = [d.entry("old", "new") for d in differences(old.schema, new)]
            messages += found
            if found and not backward:
                messages += _trailer(old)
        if backward:  # the new schema reads what the old one wrote
            found = [d.entry("new", "old") for d in differences(new, old.schema)]
            messages += found
            if found:
                messages += _trailer(old)
        if messages:
            return [*messages, f"{{validateFields: 'false', compatibility: '{level}'}}"]
    return []


def _trailer(old: OldSchema) -> list[str]:
    return [f"{{oldSchemaVersion: {old.version}}}", f"{{oldSchema: '{old.text}'}}"]


def differences(reader: avro.schema.Schema, writer: avro.schema.Schema) -> list[Difference]:
    """Why ``reader`` cannot read data written with ``writer``, in Avro Java's order."""
    return _Walk().compare(reader, writer, [])


class _Walk:
    """One reader/writer comparison; pairs under way count as compatible (recursion)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, int], list[Difference]] = {}

    def compare(self, reader: Any, writer: Any, location: list[str]) -> list[Difference]:
        pair = (id(reader), id(writer))
        if pair in self._seen:
            return self._seen[pair]
        self._seen[pair] = []  # in progress: a recursive type meets itself
        found = self._calculate(reader, writer, location)
        self._seen[pair] = found
        return found

    def _calculate(self, reader: Any, writer: Any, location: list[str]) -> list[Difference]:
        r, w = reader.type, writer.type
        if r == w:
            return self._same_type(reader, writer, location)
        if w == "union":
            return [d for branch in writer.schemas for d in self.compare(reader, branch, location)]
        if r == "union":
            if any(not self.compare(branch, writer, location) for branch in reader.schemas):
                return []
            info = f"reader union lacking writer type: {w.upper()}"
            return [Difference("MISSING_UNION_BRANCH", _path(location), info)]
        if w in _PROMOTIONS.get(r, set()):
            return []
        return [_mismatch(reader, writer, location)]

    def _same_type(self, reader: Any, writer: Any, location: list[str]) -> list[Difference]:
        kind = reader.type
        if kind in _PRIMITIVES:
            return []
        if kind == "array":
            return self.compare(reader.items, writer.items, [*location, "items"])
        if kind == "map":
            return self.compare(reader.values, writer.values, [*location, "values"])
        if kind == "union":
            found: list[Difference] = []
            for index, branch in enumerate(writer.schemas):
                if self.compare(reader, branch, [*location, str(index)]):
                    info = f"reader union lacking writer type: {branch.type.upper()}"
                    found.append(
                        Difference("MISSING_UNION_BRANCH", _path([*location, str(index)]), info)
                    )
            return found
        found = _names(reader, writer, location)
        if kind == "fixed" and reader.size != writer.size:
            info = f"expected: {writer.size}, found: {reader.size}"
            found.append(Difference("FIXED_SIZE_MISMATCH", _path([*location, "size"]), info))
        elif kind == "enum":
            found += _enum_symbols(reader, writer, location)
        elif kind in ("record", "error"):
            found += self._fields(reader, writer, location)
        return found

    def _fields(self, reader: Any, writer: Any, location: list[str]) -> list[Difference]:
        found: list[Difference] = []
        for index, field in enumerate(reader.fields):
            where = [*location, "fields", str(index)]
            written = _writer_field(writer, field)
            if written is not None:
                found += self.compare(field.type, written.type, [*where, "type"])
            elif field.has_default:
                continue
            elif field.type.type == "enum" and field.type.props.get("default") is not None:
                found += self.compare(field.type, writer, [*where, "type"])
            else:
                missing = Difference("READER_FIELD_MISSING_DEFAULT_VALUE", _path(where), field.name)
                found.append(missing)
        return found


def _path(location: list[str]) -> str:
    return "/" + "/".join(location)


def _mismatch(reader: Any, writer: Any, location: list[str]) -> Difference:
    info = (
        f"reader type: {reader.type.upper()} not compatible with writer type: {writer.type.upper()}"
    )
    return Difference("TYPE_MISMATCH", _path(location), info)


def _names(reader: Any, writer: Any, location: list[str]) -> list[Difference]:
    """Avro Java compares the short names, then the reader's aliases with the writer's
    full name."""
    if reader.name == writer.name or writer.fullname in _aliases(reader):
        return []
    return [Difference("NAME_MISMATCH", _path([*location, "name"]), f"expected: {writer.fullname}")]


def _aliases(schema: Any) -> set[str]:
    aliases = schema.props.get("aliases") or []
    namespace = schema.namespace
    return {a if "." in a or not namespace else f"{namespace}.{a}" for a in aliases}


def _enum_symbols(reader: Any, writer: Any, location: list[str]) -> list[Difference]:
    missing = sorted(set(writer.symbols) - set(reader.symbols))
    default = reader.props.get("default")
    if not missing or (default is not None and default in reader.symbols):
        return []
    info = "[" + ", ".join(missing) + "]"  # Java's TreeSet.toString()
    return [Difference("MISSING_ENUM_SYMBOLS", _path([*location, "symbols"]), info)]


def _writer_field(writer: Any, field: Any) -> Any:
    """The writer's field for a reader field: by name, else by one of its aliases."""
    by_name = {f.name: f for f in writer.fields}
    if field.name in by_name:
        return by_name[field.name]
    for alias in field.props.get("aliases") or []:
        if alias in by_name:
            return by_name[alias]
    return None
