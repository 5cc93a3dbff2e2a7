"""Schema compatibility decisions with Avro's own resolution rules.

Shared by the registry service and the ``schemas check`` command. The rules are those of
:class:`avro.compatibility.ReaderWriterCompatibilityChecker` (a reader schema can read what
a writer schema wrote); this module maps the registry's levels onto reader/writer pairs and
turns the checker's findings into sentences that name the field that breaks.

- ``BACKWARD``: the new schema (reader) reads data written with the latest one;
- ``FORWARD``: the latest schema (reader) reads data written with the new one;
- ``FULL``: both;
- ``*_TRANSITIVE``: the same against every existing schema, not only the latest;
- ``NONE``: no check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import avro.errors
import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from streamworks.schemas.errors import InvalidSchemaError, SchemaError

__all__ = [
    "DEFAULT_LEVEL",
    "LEVELS",
    "InvalidCompatibilityLevelError",
    "Level",
    "check",
    "parse_level",
    "parse_schema",
    "reader_problems",
]

Level = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
LEVELS: tuple[Level, ...] = get_args(Level)
DEFAULT_LEVEL: Level = "BACKWARD"

SchemaSource = str | Mapping[str, Any] | avro.schema.Schema


class InvalidCompatibilityLevelError(SchemaError):
    """A compatibility level is not one of :data:`LEVELS`."""


def parse_level(level: str) -> Level:
    """``level`` (any case) as a :data:`Level`; raises InvalidCompatibilityLevelError."""
    by_name: dict[str, Level] = {name: name for name in LEVELS}
    found = by_name.get(level.upper()) if isinstance(level, str) else None
    if found is None:
        raise InvalidCompatibilityLevelError(
            f"invalid compatibility level {level!r}; use one of {', '.join(LEVELS)}"
        )
    return found


def parse_schema(schema: SchemaSource) -> avro.schema.Schema:
    """An Avro schema from its JSON text or parsed JSON; raises InvalidSchemaError."""
    if isinstance(schema, avro.schema.Schema):
        return schema
    text = schema if isinstance(schema, str) else json.dumps(schema)
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, ValueError, TypeError, KeyError) as error:
        raise InvalidSchemaError(f"invalid Avro schema: {error}") from error


def check(
    new_schema: SchemaSource,
    existing: Sequence[SchemaSource],
    level: str,
    *,
    labels: Sequence[str] | None = None,
) -> list[str]:
    """Problems that keep ``new_schema`` from joining ``existing`` under ``level``.

    ``existing`` is ordered oldest first; non-transitive levels compare with its last
    element only. ``labels`` name the existing schemas in messages (e.g. ``"version 3"``);
    by default they are numbered from 1. An empty list means compatible.
    """
    mode = parse_level(level)
    if mode == "NONE" or not existing:
        return []
    new = parse_schema(new_schema)
    names = (
        list(labels) if labels is not None else [f"schema {i + 1}" for i in range(len(existing))]
    )
    if len(names) != len(existing):
        raise ValueError("labels must name every existing schema")
    pairs = list(zip(names, existing, strict=True))
    if not mode.endswith("_TRANSITIVE"):
        pairs = pairs[-1:]
    backward = mode.startswith(("BACKWARD", "FULL"))
    forward = mode.startswith(("FORWARD", "FULL"))
    problems: list[str] = []
    for name, old_source in reversed(pairs):
        old = parse_schema(old_source)
        if backward:
            problems.extend(
                f"the new schema cannot read data written with {name}: {problem}"
                for problem in reader_problems(new, old)
            )
        if forward:
            problems.extend(
                f"{name} cannot read data written with the new schema: {problem}"
                for problem in reader_problems(old, new)
            )
    return problems


def reader_problems(reader: SchemaSource, writer: SchemaSource) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can.

    Each problem names the reader's field (dotted, for nested records) and its location.
    """
    reader_schema, writer_schema = parse_schema(reader), parse_schema(writer)
    checker = _PairingChecker()
    result = checker.get_compatibility(reader_schema, writer_schema)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    # Keep the findings that made it into the final answer (a failed trial of one branch
    # of a reader union, when another branch fits, is not a problem).
    findings = sorted(
        (location, message)
        for location, message in checker.findings
        if location in result.locations and message in result.messages
    )
    # A finding at the bare root comes from a branch trial that starts without a location
    # (Avro's checker does that for union branches); keep it only when it is all there is.
    if any(location != "/" for location, _ in findings):
        findings = [finding for finding in findings if finding[0] != "/"]
    if not findings:  # pragma: no cover - the checker always reports where it failed
        findings = [(location, "; ".join(sorted(result.messages))) for location in result.locations]
    return [
        f"{_describe_location(reader_schema, loc)}: {checker.explained.get((loc, msg), msg)}"
        for loc, msg in findings
    ]


class _PairingChecker(ReaderWriterCompatibilityChecker):
    """Avro's checker, noting each finding with its own location.

    The stock result merges every message into one set and every location into another, so
    with several problems one cannot tell which message belongs where; the leaves are
    recorded here as (location, message) pairs.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.findings: set[tuple[str, str]] = set()
        self.explained: dict[tuple[str, str], str] = {}
        self._where: list[list[str]] = []

    def get_compatibility(
        self,
        reader: avro.schema.Schema,
        writer: avro.schema.Schema,
        step: str = "/",
        location: list[str] | None = None,
    ) -> Any:
        # Avro checks union branches without passing the location down, which would report
        # a problem inside an optional field at the schema root; continue from where we are.
        if location is None and self._where:
            here = self._where[-1]
            location, step = here[:-1], here[-1]
        return super().get_compatibility(reader, writer, step, location)

    def calculate_compatibility(
        self, reader: avro.schema.Schema, writer: avro.schema.Schema, location: list[str]
    ) -> Any:
        self._where.append(location)
        try:
            result = super().calculate_compatibility(reader, writer, location)
        finally:
            self._where.pop()
        if result.compatibility is not SchemaCompatibilityType.incompatible:
            return result
        containers = ("record", "array", "map", "error")
        if reader.type == writer.type and reader.type in containers:
            if reader.type in ("record", "error") and _name(reader) != _name(writer):
                self.findings.add((_join(location, "name"), f"expected: {_name(writer)}"))
            return result  # the children recorded their own findings
        if writer.type == "union" and reader.type != "union":
            return result  # each writer branch was checked (and recorded) on its own
        if len(result.locations) == 1:
            (where,) = result.locations
            self.findings.update((where, message) for message in result.messages)
        else:
            self.findings.update(
                (where, message) for where in result.locations for message in result.messages
            )
        return result

    def check_reader_writer_record_fields(
        self,
        reader: avro.schema.RecordSchema,
        writer: avro.schema.RecordSchema,
        location: list[str],
    ) -> Any:
        result = super().check_reader_writer_record_fields(reader, writer, location)
        for index, field in enumerate(reader.fields):
            if field.has_default or _writer_has(writer, field):
                continue
            where = _join([*location, "fields", str(index)])
            # Avro's own message for this case is the bare field name; say what it means.
            self.findings.add((where, field.name))
            self.explained[(where, field.name)] = (
                "it has no default value and the writer's schema does not have it"
            )
        return result


def _writer_has(writer: avro.schema.RecordSchema, field: avro.schema.Field) -> bool:
    aliases: Any = field.props.get("aliases") or []
    names = [field.name, *aliases]
    return any(name in writer.fields_dict for name in names)


def _name(schema: avro.schema.Schema) -> str:
    return str(getattr(schema, "fullname", ""))


def _join(location: list[str], *more: str) -> str:
    """The checker's location format: ``["/", "fields", "1"]`` is ``/fields/1``."""
    parts = [part for part in [*location, *more] if part != "/"]
    return "/" + "/".join(parts)


def _describe_location(schema: avro.schema.Schema, location: str) -> str:
    """``/fields/1/type`` as ``field 'address' (/fields/1/type)``, resolving nested fields."""
    path = _field_path(schema.to_json(), [step for step in location.split("/") if step])
    return f"field '{path}' ({location})" if path else f"schema root ({location})"


def _field_path(node: Any, steps: list[str]) -> str:
    names: list[str] = []
    named: dict[str, Any] = {}
    for index, step in enumerate(steps):
        node = _resolve(node, named)
        if isinstance(node, dict) and node.get("name") and node.get("type") in _NAMED:
            named[str(node["name"])] = node
        if step == "fields" and isinstance(node, dict):
            node = node.get("fields", [])
        elif step.isdigit() and isinstance(node, list) and int(step) < len(node):
            node = node[int(step)]
            previous = steps[index - 1] if index else ""
            if previous == "fields" and isinstance(node, dict):
                names.append(str(node.get("name")))
        elif step in ("type", "items", "values") and isinstance(node, dict):
            node = node.get(step)
        else:
            break
    return ".".join(names)


_NAMED = ("record", "enum", "fixed", "error")


def _resolve(node: Any, named: dict[str, Any]) -> Any:
    """A reference to an earlier named type, replaced by its definition when known."""
    if isinstance(node, str) and node in named:
        return named[node]
    return node
