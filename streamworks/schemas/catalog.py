"""Loading the ``.avsc`` contracts, with named types shared between files inlined.

A contract may use a named type defined in another file (``orders.invalid`` embeds
``FormattedOrder``). The registry needs each subject's schema to stand alone, so the catalog
inlines the first use of every foreign named type, which also makes the schema readable by
any Avro tool without references.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from streamworks.schemas.derive import derive_schema, misfits
from streamworks.schemas.errors import InvalidSchemaError

__all__ = [
    "Contract",
    "contract",
    "contract_dirs",
    "contract_of",
    "contracts",
    "load_contracts",
    "use_contracts",
]

_NAMED = ("record", "enum", "fixed")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


@dataclass(frozen=True)
class Contract:
    """One record type's self-contained schema, and the name it is known by.

    A contract is a schema, not a topic: which topics carry it is the pipeline's business,
    and each topic's registry subject is ``<topic>-value``.
    """

    name: str
    """A hand-written contract's file name without ``.avsc``; a derived one's record name."""
    schema: dict[str, Any] = field(repr=False)
    """The schema as JSON data, with foreign named types inlined."""

    @property
    def record_name(self) -> str:
        """The record's full name, e.g. ``streamworks.orders.RawOrder``."""
        return _full_name(self.schema, None)

    @property
    def subject(self) -> str:
        """``<name>-value``: the subject of the topic of the same name (a contract folder's
        convention, TopicNameStrategy)."""
        return f"{self.name}-value"

    @property
    def schema_str(self) -> str:
        """The schema as compact JSON text, as registered."""
        return json.dumps(self.schema, separators=(",", ":"))

    @property
    def parsed(self) -> Any:
        """The schema parsed by fastavro (cached per contract)."""
        return _parse(self.schema_str)


@cache
def _parse(schema_str: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_str))


def load_contracts(directory: Path) -> dict[str, Contract]:
    """Every ``*.avsc`` in ``directory``, keyed by topic, checked to be valid Avro."""
    raw: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.avsc")):
        try:
            raw[path.stem] = json.loads(path.read_text())
        except ValueError as error:
            raise InvalidSchemaError(f"{path} is not valid JSON: {error}") from error
    definitions: dict[str, dict[str, Any]] = {}
    for schema in raw.values():
        _collect(schema, None, definitions)
    result = {}
    for topic, schema in raw.items():
        expanded = _inline(schema, None, definitions, set())
        try:
            fastavro.parse_schema(expanded)
        except Exception as error:  # fastavro raises several types for bad schemas
            raise InvalidSchemaError(
                f"{directory / topic}.avsc is not valid Avro: {error}"
            ) from error
        result[topic] = Contract(name=topic, schema=expanded)
    return result


_directories: list[Path] = []
_loaded: dict[str, Contract] = {}


def use_contracts(directory: Path | str) -> None:
    """Make the ``.avsc`` files of ``directory`` known to every lookup in this process.

    A project calls it once, next to its record classes (for example in its
    ``schemas/__init__.py``); the CLI also calls it for ``[tool.streamworks] contracts``.
    Calling it again for the same folder does nothing; a contract name defined differently
    in two folders is refused.
    """
    folder = Path(directory).resolve()
    if folder in _directories:
        return
    if not folder.is_dir():
        raise InvalidSchemaError(f"contracts folder {folder} does not exist")
    found = load_contracts(folder)
    for name, loaded in found.items():
        known = _loaded.get(name)
        if known is not None and known.schema != loaded.schema:
            raise InvalidSchemaError(
                f"contract {name} is defined differently in {folder} and in an earlier folder"
            )
    _directories.append(folder)
    _loaded.update(found)


def contract_dirs() -> tuple[Path, ...]:
    """The folders :func:`use_contracts` made known, in order."""
    return tuple(_directories)


def contracts() -> dict[str, Contract]:
    """Every known contract, keyed by name."""
    return dict(_loaded)


def contract(name: str) -> Contract:
    """The contract called ``name``; a clear error names the known ones when it is missing."""
    if name not in _loaded:
        where = ", ".join(str(d) for d in _directories) or "no contracts folder yet"
        raise InvalidSchemaError(
            f"no contract {name}; known: {', '.join(sorted(_loaded)) or 'none'} (from {where}); "
            "make a folder known with streamworks.use_contracts or [tool.streamworks] contracts"
        )
    return _loaded[name]


def contract_of(record_type: type) -> Contract:
    """The contract of a record class: the ``.avsc`` it names, or the schema of its fields.

    A class naming a contract (``class R(AvroRecord, contract="orders.raw")``) must fit it:
    a field the file lacks, a file field without a default the class lacks, or a type its
    values cannot take is refused here, naming the field, rather than dead-lettering every
    record later. A class naming none gets the schema derived from its type hints
    (:func:`~streamworks.schemas.derive.derive_schema`), named by the record's full name.
    """
    named = getattr(record_type, "avro_contract", None)
    if named is None:
        return _derived(record_type)
    found = contract(named)
    problems = _misfits(record_type, named)
    if problems:
        raise InvalidSchemaError(
            f"{record_type.__name__} does not fit contract {named}: {'; '.join(problems)}"
        )
    return found


@cache
def _derived(record_type: type) -> Contract:
    schema = derive_schema(record_type)
    return Contract(name=_full_name(schema, None), schema=schema)


@cache
def _misfits(record_type: type, named: str) -> tuple[str, ...]:
    return tuple(misfits(record_type, contract(named).schema))


def _full_name(schema: dict[str, Any], namespace: str | None) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    space = schema.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _collect(schema: Any, namespace: str | None, into: dict[str, dict[str, Any]]) -> None:
    """Record every named type defined anywhere in ``schema`` under its full name."""
    if isinstance(schema, list):
        for branch in schema:
            _collect(branch, namespace, into)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED:
            full = _full_name(schema, namespace)
            into[full] = {**schema, "name": full}
            namespace = full.rpartition(".")[0] or None
        for field_ in schema.get("fields", []):
            _collect(field_["type"], namespace, into)
        for key in ("items", "values"):
            if key in schema:
                _collect(schema[key], namespace, into)
        if isinstance(kind, dict | list):
            _collect(kind, namespace, into)


def _inline(
    schema: Any, namespace: str | None, definitions: dict[str, dict[str, Any]], defined: set[str]
) -> Any:
    """``schema`` with the first reference to each foreign named type replaced by its body."""
    if isinstance(schema, str):
        full = schema if "." in schema or namespace is None else f"{namespace}.{schema}"
        for name in (full, schema):
            if schema not in _PRIMITIVES and name not in defined and name in definitions:
                return _inline(definitions[name], None, definitions, defined)
        return schema
    if isinstance(schema, list):
        return [_inline(branch, namespace, definitions, defined) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    result = dict(schema)
    kind = schema.get("type")
    if kind in _NAMED:
        full = _full_name(schema, namespace)
        defined.add(full)
        namespace = full.rpartition(".")[0] or None
    if "fields" in schema:
        result["fields"] = [
            {**f, "type": _inline(f["type"], namespace, definitions, defined)}
            for f in schema["fields"]
        ]
    for key in ("items", "values"):
        if key in schema:
            result[key] = _inline(schema[key], namespace, definitions, defined)
    if isinstance(kind, dict | list | str) and kind not in _NAMED and kind not in ("array", "map"):
        result["type"] = _inline(kind, namespace, definitions, defined)
    return result
