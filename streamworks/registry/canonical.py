"""Schema text as Confluent's registry serves it: Avro Java's compact ``Schema.toString()``.

Confluent stores and answers ``AvroSchema.canonicalString()``, which is what the Java Avro
library writes for a parsed schema: no whitespace, attributes in the library's own order
(``type``, ``name``, ``namespace``, ``doc``, then ``fields``/``symbols``/``items``/...,
other properties, ``aliases``), ``{"type": "string"}`` written as ``"string"``, a namespace
only where it differs from the enclosing one, and a named type used again written by name
(short when in the enclosing namespace). Record fields keep their order (Confluent only
reorders with ``normalize=true``).

This module writes that text from the schema's JSON, without a Java runtime.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["confluent_text"]

_PRIMITIVES = frozenset(("null", "boolean", "int", "long", "float", "double", "bytes", "string"))
_RESERVED = {
    "record": ("type", "name", "namespace", "doc", "fields", "aliases"),
    "error": ("type", "name", "namespace", "doc", "fields", "aliases"),
    "enum": ("type", "name", "namespace", "doc", "symbols", "default", "aliases"),
    "fixed": ("type", "name", "namespace", "doc", "size", "aliases"),
    "array": ("type", "items"),
    "map": ("type", "values"),
}
_FIELD_RESERVED = ("name", "type", "doc", "default", "order", "aliases")


def confluent_text(schema: str) -> str:
    """``schema`` (valid Avro JSON text) as Confluent serves it.

    Raises ValueError (or TypeError/KeyError) for text that is not an Avro schema's JSON.
    """
    return _dump(_Writer().schema(json.loads(schema), None))


def _dump(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _split(name: str, namespace: str | None) -> tuple[str, str | None]:
    """A name's short name and namespace (None for the null namespace)."""
    if "." in name:
        space, _, short = name.rpartition(".")
        return short, space or None
    return name, namespace or None


class _Writer:
    """Walks the schema JSON as Avro Java's ``toJson(names, generator)`` does."""

    def __init__(self) -> None:
        self._defined: set[str] = set()

    def schema(self, node: Any, space: str | None) -> Any:
        if isinstance(node, list):
            return [self.schema(branch, space) for branch in node]
        if isinstance(node, str):
            return self._reference(node, space)
        if not isinstance(node, dict):
            raise TypeError(f"not an Avro schema: {node!r}")
        return self._object(node, node.get("type"), space)

    def _object(self, node: dict[str, Any], kind: Any, space: str | None) -> Any:
        if isinstance(kind, (dict, list)):
            return self.schema(kind, space)  # {"type": {...}} is the inner schema
        if kind in _PRIMITIVES:
            props = {k: v for k, v in node.items() if k != "type"}
            return {"type": kind, **props} if props else kind
        if kind in ("array", "map"):
            inner = "items" if kind == "array" else "values"
            return {"type": kind, inner: self.schema(node[inner], space), **self._props(node)}
        if kind in ("record", "error", "enum", "fixed"):
            return self._named(node, str(kind), space)
        return self._reference(str(kind), space)

    def _reference(self, name: str, space: str | None) -> str:
        if name in _PRIMITIVES:
            return name
        short, its_space = _split(name, space)
        if its_space == space:
            return short
        return f"{its_space}.{short}" if its_space else short

    def _props(self, node: dict[str, Any]) -> dict[str, Any]:
        reserved = _RESERVED.get(str(node.get("type")), ("type",))
        return {k: v for k, v in node.items() if k not in reserved}

    def _named(self, node: dict[str, Any], kind: str, space: str | None) -> Any:
        short, its_space = _split(str(node["name"]), node.get("namespace", space))
        full = f"{its_space}.{short}" if its_space else short
        if full in self._defined:
            return self._reference(full, space)
        self._defined.add(full)
        out: dict[str, Any] = {"type": kind, "name": short}
        if its_space != space:
            out["namespace"] = its_space or ""
        if node.get("doc") is not None:
            out["doc"] = node["doc"]
        if kind in ("record", "error"):
            out["fields"] = [self._field(field, its_space) for field in node.get("fields", [])]
        elif kind == "enum":
            out["symbols"] = node["symbols"]
            if node.get("default") is not None:
                out["default"] = node["default"]
        else:
            out["size"] = node["size"]
        out.update(self._props(node))
        if node.get("aliases"):
            out["aliases"] = node["aliases"]
        return out

    def _field(self, field: dict[str, Any], space: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": field["name"], "type": self.schema(field["type"], space)}
        if field.get("doc") is not None:
            out["doc"] = field["doc"]
        if "default" in field:
            out["default"] = field["default"]
        if field.get("order", "ascending") != "ascending":
            out["order"] = field["order"]
        if field.get("aliases"):
            out["aliases"] = field["aliases"]
        out.update({k: v for k, v in field.items() if k not in _FIELD_RESERVED})
        return out
