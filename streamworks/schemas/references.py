"""Schema references: a schema that uses named types registered under other subjects.

Confluent's registry lets a schema name a type another subject's schema defines, with
``references: [{"name": "com.acme.Address", "subject": "address-value", "version": 1}]``.
Readers parse the referenced schemas first (their own references before them), so their
named types are known when the schema itself is parsed; the registry, the compatibility
checks and the codec all do it through :func:`parse_with`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.name
import avro.schema

from streamworks.schemas.errors import InvalidSchemaError

__all__ = [
    "Fetch",
    "SchemaReference",
    "canonical_with",
    "missing_reference",
    "parse_with",
    "referenced_schemas",
    "standalone",
]

_MAX_DEPTH = 100


@dataclass(frozen=True)
class SchemaReference:
    """One named type a schema uses, and the subject version that defines it."""

    name: str
    """The referenced type's full name, e.g. ``com.acme.Address``."""
    subject: str
    """The subject whose schema defines it."""
    version: int
    """That subject's version; -1 in a request means its latest."""

    @classmethod
    def from_json(cls, data: Any) -> SchemaReference:
        """A reference from its JSON object; raises InvalidSchemaError when malformed."""
        if not isinstance(data, Mapping):
            raise InvalidSchemaError(f"Invalid schema reference {data!r}")
        name, subject, version = data.get("name"), data.get("subject"), data.get("version")
        if not (isinstance(name, str) and isinstance(subject, str)) or type(version) is not int:
            raise InvalidSchemaError(f"Invalid schema reference {json.dumps(data)}")
        return cls(name, subject, version)

    def to_json(self) -> dict[str, Any]:
        """Confluent's JSON object of the reference."""
        return {"name": self.name, "subject": self.subject, "version": self.version}


Fetch = Callable[[SchemaReference], tuple[str, Sequence[SchemaReference]]]
"""Looks a reference up: its schema text and that schema's own references."""


def missing_reference(reference: SchemaReference) -> InvalidSchemaError:
    """Confluent's words for a reference to a subject version that does not exist."""
    return InvalidSchemaError(
        f'No schema reference found for subject "{reference.subject}" and version '
        f"{reference.version}"
    )


def referenced_schemas(references: Sequence[SchemaReference], fetch: Fetch) -> list[str]:
    """The schema texts ``references`` name, recursively, each after its own references.

    Confluent's resolution: depth first, and a type name is taken once (so shared and even
    cyclic references end). Parse them in this order before the schema itself.
    """
    texts: dict[str, str] = {}

    def visit(reference: SchemaReference, depth: int) -> None:
        if reference.name in texts:
            return
        if depth > _MAX_DEPTH:
            raise missing_reference(reference)
        texts[reference.name] = ""  # taken: a cycle back to this name stops here
        schema, inner = fetch(reference)
        for each in inner:
            visit(each, depth + 1)
        del texts[reference.name]  # placed after its own references
        texts[reference.name] = schema

    for reference in references:
        visit(reference, 0)
    return list(texts.values())


def _parse_all(schema: str, referenced: Sequence[str]) -> tuple[list[Any], Any]:
    names = avro.name.Names()
    try:
        parsed = [avro.schema.make_avsc_object(json.loads(text), names) for text in referenced]
        return parsed, avro.schema.make_avsc_object(json.loads(schema), names)
    except (avro.errors.AvroException, ValueError, TypeError, KeyError) as error:
        raise InvalidSchemaError(f"invalid Avro schema: {error}") from error


def parse_with(schema: str, referenced: Sequence[str] = ()) -> avro.schema.Schema:
    """``schema`` parsed with the named types of ``referenced`` known.

    ``referenced`` are schema texts, each after the ones it references itself (Confluent's
    resolution order); raises InvalidSchemaError.
    """
    parsed: avro.schema.Schema = _parse_all(schema, referenced)[1]
    return parsed


def standalone(schema: str, referenced: Sequence[str] = ()) -> str:
    """``schema`` as JSON text that stands alone: each referenced type inlined at first use.

    What any Avro library (fastavro included) can read without knowing about references.
    """
    return json.dumps(parse_with(schema, referenced).to_json(), separators=(",", ":"))


def canonical_with(schema: str, referenced: Sequence[str] = ()) -> str:
    """The parsed form of ``schema`` with sorted keys and no spaces, referenced types by name.

    Two registrations of the same schema with the same references share it, however the
    client spaced or ordered its JSON.
    """
    parsed, main = _parse_all(schema, referenced)
    known = avro.name.Names()
    for each in parsed:
        each.to_json(known)  # marks their named types as known: written by name below
    return json.dumps(main.to_json(known), sort_keys=True, separators=(",", ":"))
