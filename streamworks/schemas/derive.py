"""Avro schemas derived from record classes, and the check that a class fits its ``.avsc``.

A record class is a frozen dataclass; its type hints say everything a schema says:

=================================  ==================================================
Python                             Avro
=================================  ==================================================
``str`` / ``int`` / ``float``      ``string`` / ``long`` / ``double``
``bool`` / ``bytes``               ``boolean`` / ``bytes``
``X | None``                       ``["null", X]`` (``null`` second when the default is not None)
``list[X]``, ``tuple[X, ...]``     ``array`` of X
``dict[str, X]``                   ``map`` of X
another record class               a nested ``record`` (named once, then by name)
a ``StrEnum``                      ``enum`` whose symbols are the members' values
``datetime`` / ``date``            ``long`` timestamp-millis / ``int`` date
``UUID``                           ``string`` uuid
``Annotated[Decimal, Precision]``  ``bytes`` decimal with that precision and scale
=================================  ==================================================

Field defaults become Avro defaults, the docstring under a field (the house style) becomes
its ``doc``, the class docstring the record's. The namespace is the one the class gives
(``class R(AvroRecord, namespace=...)``), else its module's name.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import enum
import inspect
import itertools
import math
import sys
import textwrap
import types
import typing
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from streamworks.schemas.errors import InvalidSchemaError

__all__ = ["Precision", "derive_schema", "misfits"]


@dataclass(frozen=True)
class Precision:
    """The precision and scale of a ``Decimal`` field: ``Annotated[Decimal, Precision(12, 2)]``."""

    precision: int
    scale: int = 0


def derive_schema(record_type: type) -> dict[str, Any]:
    """The Avro schema of ``record_type`` (a dataclass), as JSON data.

    Raises :class:`InvalidSchemaError` naming the field whose type has no Avro form.
    """
    schema: dict[str, Any] = _Deriver().record(record_type)  # a whole record: never a name
    return schema


def misfits(record_type: type, schema: dict[str, Any]) -> list[str]:
    """How ``record_type`` and the record ``schema`` disagree; empty when they fit.

    A class fits when every field it has is in the schema with a type its values can take,
    and every schema field it lacks has a default (the writer fills it in).
    """
    problems: list[str] = []
    _fit_record(record_type, schema, record_type.__name__, problems, {})
    return problems


class _Deriver:
    def __init__(self) -> None:
        self._defined: set[str] = set()

    def record(self, cls: type, namespace: str | None = None) -> Any:
        if not dataclasses.is_dataclass(cls):
            raise InvalidSchemaError(f"{cls.__name__} is not a dataclass; a record needs fields")
        space = cls.__dict__.get("avro_namespace") or _module_namespace(cls) or namespace
        full = f"{space}.{cls.__name__}" if space else cls.__name__
        if full in self._defined:
            return full
        self._defined.add(full)
        hints = typing.get_type_hints(cls, include_extras=True)
        docs = _field_docs(cls)
        fields = []
        for item in dataclasses.fields(cls):
            where = f"{cls.__name__}.{item.name}"
            default = _default(item, where)
            avro = self.avro_type(hints[item.name], where, space, nullable_first=default is None)
            field: dict[str, Any] = {"name": item.name, "type": avro}
            if item.name in docs:
                field["doc"] = docs[item.name]
            if default is not _NO_DEFAULT:
                field["default"] = default
            fields.append(field)
        schema: dict[str, Any] = {"type": "record", "name": cls.__name__}
        if space:
            schema["namespace"] = space
        doc = _class_doc(cls)
        if doc:
            schema["doc"] = doc
        schema["fields"] = fields
        return schema

    def avro_type(  # noqa: PLR0911, PLR0912 - one branch per kind of Python type
        self, hint: Any, where: str, namespace: str | None, *, nullable_first: bool = True
    ) -> Any:
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            base, *extras = args
            precision = next((x for x in extras if isinstance(x, Precision)), None)
            if precision is not None:
                if base is not Decimal:
                    raise InvalidSchemaError(f"{where}: Precision applies to Decimal only")
                if not 0 <= precision.scale <= precision.precision or precision.precision < 1:
                    raise InvalidSchemaError(
                        f"{where}: Precision({precision.precision}, {precision.scale}) needs "
                        "precision >= 1 and 0 <= scale <= precision"
                    )
                return _decimal(precision)
            return self.avro_type(base, where, namespace, nullable_first=nullable_first)
        if origin in (typing.Union, types.UnionType):
            options = [self.avro_type(a, where, namespace) for a in args if a is not type(None)]
            if type(None) not in args:
                return options
            return ["null", *options] if nullable_first else [*options, "null"]
        if origin in (list, tuple, set, frozenset):
            if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):  # noqa: PLR2004
                raise InvalidSchemaError(f"{where}: a tuple field is tuple[X, ...]")
            if not args:
                raise InvalidSchemaError(f"{where}: say what the list holds, e.g. list[str]")
            return {"type": "array", "items": self.avro_type(args[0], where, namespace)}
        if origin is dict:
            if not args or args[0] is not str:
                raise InvalidSchemaError(f"{where}: a map field is dict[str, X]")
            return {"type": "map", "values": self.avro_type(args[1], where, namespace)}
        if hint in _PLAIN:
            return _PLAIN[hint]
        if hint is Decimal:
            raise InvalidSchemaError(
                f"{where}: a Decimal needs its precision: Annotated[Decimal, Precision(12, 2)]"
            )
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return self.avro_enum(hint, where, namespace)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            return self.record(hint, namespace)
        raise InvalidSchemaError(f"{where}: {_name(hint)} has no Avro form")

    def avro_enum(self, cls: type[enum.Enum], where: str, namespace: str | None) -> Any:
        symbols = [member.value for member in cls]
        if not all(isinstance(symbol, str) for symbol in symbols):
            raise InvalidSchemaError(f"{where}: an enum field needs string values (a StrEnum)")
        space = _module_namespace(cls) or namespace
        full = f"{space}.{cls.__name__}" if space else cls.__name__
        if full in self._defined:
            return full
        self._defined.add(full)
        schema: dict[str, Any] = {"type": "enum", "name": cls.__name__}
        if space:
            schema["namespace"] = space
        schema["symbols"] = symbols
        return schema


_PLAIN: dict[Any, Any] = {
    str: "string",
    int: "long",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
    dt.datetime: {"type": "long", "logicalType": "timestamp-millis"},
    dt.date: {"type": "int", "logicalType": "date"},
    uuid.UUID: {"type": "string", "logicalType": "uuid"},
}

_NO_DEFAULT: Any = object()
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _decimal(precision: Precision) -> dict[str, Any]:
    return {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": precision.precision,
        "scale": precision.scale,
    }


def _default(item: dataclasses.Field[Any], where: str) -> Any:
    """The field's default as Avro JSON, or ``_NO_DEFAULT``."""
    if item.default is not dataclasses.MISSING:
        return _json_default(item.default, where)
    if item.default_factory is not dataclasses.MISSING:
        return _json_default(item.default_factory(), where)
    return _NO_DEFAULT


def _json_default(value: Any, where: str) -> Any:  # noqa: PLR0911 - one line per kind
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidSchemaError(f"{where}: a default of {value} has no JSON (so no Avro) form")
    if value is None or isinstance(value, bool | int | float | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_default(v, where) for v in value]
    if isinstance(value, dict):
        return {k: _json_default(v, where) for k, v in value.items()}
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):  # integer arithmetic: a float product loses a millisecond
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return (aware - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    raise InvalidSchemaError(f"{where}: a default of type {type(value).__name__} has no Avro form")


def _module_namespace(cls: type) -> str | None:
    module = cls.__module__
    return None if module in ("__main__", "builtins") else module


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)


def _class_doc(cls: type) -> str | None:
    doc = cls.__dict__.get("__doc__")
    if not doc or doc.startswith(f"{cls.__name__}("):  # the one dataclass writes itself
        return None
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def _field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field in the class body (when its source is known).

    A module's source is parsed once for all its top-level classes; a class defined
    elsewhere (in a function, say) is looked up on its own.
    """
    found = _module_docs(cls.__module__).get(cls.__qualname__)
    if found is not None:
        return found
    return _class_docs(cls)


@cache
def _module_docs(module: str) -> dict[str, dict[str, str]]:
    loaded = sys.modules.get(module)
    try:
        source = inspect.getsource(loaded) if loaded is not None else None
    except (OSError, TypeError):
        source = None
    if source is None:
        return {}
    return {
        node.name: _docs_of(node.body)
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef)
    }


@cache
def _class_docs(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = next((n.body for n in ast.parse(source).body if isinstance(n, ast.ClassDef)), [])
    return _docs_of(body)


def _docs_of(body: list[ast.stmt]) -> dict[str, str]:
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(following.value.value).split())
    return docs


# -- fitting a class to a hand-written schema --------------------------------------------------


def _fit_record(
    cls: type, schema: Any, where: str, problems: list[str], named: dict[str, Any]
) -> None:
    if not isinstance(schema, dict) or schema.get("type") != "record":
        problems.append(f"{where}: the class is a record, the contract has {_avro_name(schema)}")
        return
    _remember(schema, named)
    hints = typing.get_type_hints(cls, include_extras=True)
    theirs = {f["name"]: f for f in schema.get("fields", [])}
    mine = [item.name for item in dataclasses.fields(cls)]
    for name in mine:
        if name not in theirs:
            problems.append(f"{where}.{name}: in the class, not in the contract")
            continue
        _fit(hints[name], theirs[name]["type"], f"{where}.{name}", problems, named)
    for name, field in theirs.items():
        if name not in mine and "default" not in field:
            problems.append(f"{where}.{name}: in the contract without a default, not in the class")


def _fit(  # noqa: PLR0911, PLR0912 - one branch per kind of Python type
    hint: Any, avro: Any, where: str, problems: list[str], named: dict[str, Any]
) -> None:
    if isinstance(avro, str) and avro in named:
        avro = named[avro]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        _fit(args[0], avro, where, problems, named)
        return
    if isinstance(avro, list):  # a union: each Python option must fit one branch
        union = origin in (typing.Union, types.UnionType)
        options = [a for a in args if a is not type(None)] if union else [hint]
        if union and type(None) in args and "null" not in avro:
            problems.append(f"{where}: the class allows None, the contract does not")
        for option in options:
            if not any(_fits_quietly(option, branch, named) for branch in avro if branch != "null"):
                problems.append(f"{where}: {_name(option)} fits no branch of {avro}")
        return
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if type(None) in args:
            problems.append(f"{where}: the class allows None, the contract does not")
        if len(options) == 1:
            _fit(options[0], avro, where, problems, named)
        else:
            problems.append(f"{where}: the class is a union, the contract is {_avro_name(avro)}")
        return
    kind = avro.get("type") if isinstance(avro, dict) else avro
    logical = avro.get("logicalType") if isinstance(avro, dict) else None
    if origin in (list, tuple, set, frozenset):
        if kind != "array":
            problems.append(f"{where}: the class is a list, the contract is {_avro_name(avro)}")
        elif args:
            _fit(args[0], avro["items"], f"{where}[]", problems, named)
        return
    if origin is dict:
        if kind != "map":
            problems.append(f"{where}: the class is a dict, the contract is {_avro_name(avro)}")
        elif len(args) == 2:  # noqa: PLR2004
            _fit(args[1], avro["values"], f"{where}{{}}", problems, named)
        return
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if kind != "enum":
            problems.append(f"{where}: the class is an enum, the contract is {_avro_name(avro)}")
            return
        _remember(avro, named)
        missing = [m.value for m in hint if m.value not in avro.get("symbols", [])]
        if missing:
            problems.append(f"{where}: the contract's enum lacks {', '.join(map(str, missing))}")
        return
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        _fit_record(hint, avro, where, problems, named)
        return
    accepted = _ACCEPTS.get(hint)
    if accepted is None:
        problems.append(f"{where}: {_name(hint)} has no Avro form")
    elif (kind, logical) not in accepted:
        problems.append(f"{where}: the class is {_name(hint)}, the contract is {_avro_name(avro)}")


def _fits_quietly(hint: Any, avro: Any, named: dict[str, Any]) -> bool:
    """Whether ``hint`` fits ``avro``; the named types it defines are kept only if it does
    (a type first defined in a union's branch is referred to by name later)."""
    found: list[str] = []
    trial = dict(named)
    _fit(hint, avro, "", found, trial)
    if not found:
        named.update(trial)
    return not found


def _remember(schema: dict[str, Any], named: dict[str, Any]) -> None:
    name = schema.get("name")
    if isinstance(name, str):
        named[name] = schema
        space = schema.get("namespace")
        if space and "." not in name:
            named[f"{space}.{name}"] = schema


def _avro_name(avro: Any) -> str:
    if isinstance(avro, dict):
        logical = avro.get("logicalType")
        return f"{avro.get('type')} ({logical})" if logical else str(avro.get("type"))
    return str(avro)


_ACCEPTS: dict[Any, set[tuple[Any, Any]]] = {
    str: {("string", None)},
    int: {("int", None), ("long", None)},
    float: {("float", None), ("double", None), ("int", None), ("long", None)},
    bool: {("boolean", None)},
    bytes: {("bytes", None), ("fixed", None)},
    dt.datetime: {("long", "timestamp-millis"), ("long", "timestamp-micros")},
    dt.date: {("int", "date")},
    uuid.UUID: {("string", "uuid")},
    Decimal: {("bytes", "decimal"), ("fixed", "decimal")},
}
