"""Hypothesis strategies for random record classes, built as a user writes them, and their values.

:func:`record_classes` draws a frozen ``AvroRecord`` dataclass whose fields take the types
``derive_schema`` supports (scalars, logical types, ``Decimal`` with a precision, StrEnums,
nested records, optionals, lists, tuples and maps, nested to a bounded depth), some of them
with defaults; :func:`instances` draws values of such a class.

Where the platform has a known bug, the strategies may stay clear of it while its name is
in :data:`KNOWN_BUGS` (with a strict-xfail reproducer in ``test_derive_properties.py``);
the five these properties found are fixed, and pinned there as regressions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import itertools
import keyword
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any

from hypothesis import strategies as st

from streamworks import AvroRecord, Precision

__all__ = [
    "KNOWN_BUGS",
    "classes_and_instances",
    "instances",
    "record_classes",
]

KNOWN_BUGS: frozenset[str] = frozenset()
"""Names of the platform bugs these strategies avoid; remove a name once its bug is fixed."""

_INT64 = 2**63
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Year 2 to year 9998: far from datetime's limits, so a fixed UTC offset never overflows.
_MIN_MS = (dt.datetime(2, 1, 1, tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)
_MAX_MS = (dt.datetime(9998, 12, 31, tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(milliseconds=1)
_MAX_PRECISION = 30

_AVRO_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,9}"
_PYTHON_TAKEN = frozenset(dir(AvroRecord))


def _python_name(name: str) -> str:
    """``name``, changed where Python forbids it as a field name: a keyword is no attribute,
    a dunder name is mangled or special, and a name AvroRecord uses (to_avro...) is taken."""
    if name.startswith("__"):
        name = f"f{name}"
    return f"{name}_" if keyword.iskeyword(name) or name in _PYTHON_TAKEN else name


def _unique(names: list[str]) -> list[str]:
    """``names``, a repeated one suffixed (drawing unique short names often gives up)."""
    seen: set[str] = set()
    result = []
    for name in names:
        while name in seen:
            name = f"{name}_"  # noqa: PLW2901 - the name, made unique
        seen.add(name)
        result.append(name)
    return result


_FIELD_NAMES = st.from_regex(_AVRO_NAME, fullmatch=True).map(_python_name)
_SYMBOLS = st.from_regex(_AVRO_NAME, fullmatch=True)
_NAMESPACES = st.lists(st.from_regex(_AVRO_NAME, fullmatch=True), min_size=1, max_size=3).map(
    ".".join
)

_SCALARS: tuple[Any, ...] = (str, int, float, bool, bytes, dt.datetime, dt.date, uuid.UUID)
_LOGICAL: tuple[Any, ...] = (dt.datetime, dt.date, uuid.UUID)
_NO_DEFAULT: Any = object()
# The module the classes claim: the namespace of those without namespace=. No such module
# exists, so derive_schema finds no source to read field docs from (parsing this module's
# source for every class would take most of the tests' time).
_MODULE = "generated.records"


def record_classes(*, depth: int = 2, records: int = 4) -> st.SearchStrategy[type[AvroRecord]]:
    """Random frozen record classes: ``depth`` bounds how deep a field's type nests lists,
    maps and optionals, ``records`` how many record classes one draw makes (nested ones too).

    Each draw's named types (records ``R<n>``, enums ``E<n>``) have names of their own, so
    no two clash within one schema; some records carry ``namespace=``, the others get their
    module's, as a user's would; nested records and enums are sometimes used more than once.
    """
    return _record_classes(depth, records)


@st.composite
def _record_classes(draw: st.DrawFn, depth: int, records: int) -> type[AvroRecord]:
    return _Builder(draw, depth, records).record()


def instances(
    record_type: type[AvroRecord], *, allow_nan: bool = False
) -> st.SearchStrategy[AvroRecord]:
    """Random values of ``record_type``: NaN only when asked (it is unequal to itself)."""
    return _values(record_type, nan=allow_nan, finite=False)


def classes_and_instances(
    *, depth: int = 2, records: int = 4, allow_nan: bool = False
) -> st.SearchStrategy[tuple[type[AvroRecord], AvroRecord]]:
    """A random record class and a random value of it."""
    return record_classes(depth=depth, records=records).flatmap(
        lambda cls: st.tuples(st.just(cls), instances(cls, allow_nan=allow_nan))
    )


# -- classes ---------------------------------------------------------------------------------


class _Builder:
    """Draws one record class and the named types inside it, numbering their names."""

    def __init__(
        self, draw: Callable[[st.SearchStrategy[Any]], Any], depth: int, budget: int
    ) -> None:
        self.draw = draw
        self.depth = depth
        self.budget = budget  # how many more record classes this draw may make
        self.numbers: Iterator[int] = itertools.count()
        self.records: list[type[AvroRecord]] = []
        self.enums: list[type[enum.StrEnum]] = []

    def record(self) -> type[AvroRecord]:
        self.budget -= 1
        name = f"R{next(self.numbers)}"
        count = self.draw(st.integers(0, 4))
        names = _unique(self.draw(st.lists(_FIELD_NAMES, min_size=count, max_size=count)))
        fields = []
        for field_name in names:
            hint = self.hint(self.depth)
            default = _NO_DEFAULT
            if _has_json_default(hint) and self.draw(st.booleans()):
                default = self.draw(_values(hint, nan=False, finite=True))
            fields.append((field_name, hint, default))
        # a dataclass field without a default may not follow one with a default
        fields.sort(key=lambda item: item[2] is not _NO_DEFAULT)
        space = self.draw(st.none() | _NAMESPACES)
        doc = self.draw(st.none() | st.text(max_size=12))

        def body(namespace: dict[str, Any]) -> None:
            namespace["__module__"] = _MODULE
            namespace["__qualname__"] = name
            namespace["__annotations__"] = {n: hint for n, hint, _ in fields}
            if doc is not None:
                namespace["__doc__"] = doc
            for field_name, _, default in fields:
                if default is not _NO_DEFAULT:
                    namespace[field_name] = _dataclass_default(default)

        # as `class R<n>(AvroRecord, namespace=...)` would: __init_subclass__ takes the keyword
        keywords = {} if space is None else {"namespace": space}
        created = types.new_class(name, (AvroRecord,), keywords, body)
        record_type: type[AvroRecord] = dataclasses.dataclass(frozen=True)(created)
        self.records.append(record_type)
        return record_type

    def enum(self) -> type[enum.StrEnum]:
        if self.enums and self.draw(st.booleans()):
            reused: type[enum.StrEnum] = self.draw(st.sampled_from(self.enums))
            return reused
        symbols = _unique(self.draw(st.lists(_SYMBOLS, min_size=1, max_size=4)))
        members = {f"M{i}": symbol for i, symbol in enumerate(symbols)}
        made = enum.StrEnum(f"E{next(self.numbers)}", members, module=_MODULE)  # type: ignore[misc]
        self.enums.append(made)
        return made

    def hint(
        self, depth: int, *, records: bool = True, converted: bool = True, inside: bool = False
    ) -> Any:
        """A type hint nesting at most ``depth`` deep; ``records``: records may appear here;
        ``converted``: types from_avro converts (enums, records, tuples) may; ``inside``: an
        element of a container."""
        kinds = ["scalar", "decimal"]
        if converted:
            kinds.append("enum")
        if converted and records and (self.budget > 0 or self.records):
            kinds.append("record")
        if depth > 0:
            kinds += ["optional", "list", "dict"] + (["tuple"] if converted else [])
        kind = self.draw(st.sampled_from(kinds))
        if kind == "optional":
            if inside and "none_in_converted_containers" in KNOWN_BUGS:
                records, converted = False, False
            inner = self.hint(depth - 1, records=records, converted=converted, inside=inside)
            if typing.get_origin(inner) is tuple and "tuples_in_unions" in KNOWN_BUGS:
                return inner
            return inner | None
        if kind in ("list", "tuple", "dict"):
            deep = inside and "records_deep_in_containers" in KNOWN_BUGS
            records = records and not deep
            item = self.hint(depth - 1, records=records, converted=converted, inside=True)
            return _CONTAINERS[kind](item)
        return self.leaf(kind)

    def leaf(self, kind: str) -> Any:
        if kind == "decimal":
            precision = self.draw(st.integers(1, _MAX_PRECISION))
            scale = self.draw(st.integers(0, precision))
            return Annotated[Decimal, Precision(precision, scale)]
        if kind == "enum":
            return self.enum()
        if kind == "record":
            if self.budget > 0 and (not self.records or self.draw(st.booleans())):
                return self.record()
            return self.draw(st.sampled_from(self.records))
        return self.draw(st.sampled_from(_SCALARS))


_CONTAINERS: dict[str, Callable[[Any], Any]] = {
    "list": lambda item: list[item],  # type: ignore[valid-type]
    "tuple": lambda item: tuple[item, ...],  # type: ignore[valid-type]
    "dict": lambda item: dict[str, item],  # type: ignore[valid-type]
}


def _has_json_default(hint: Any) -> bool:
    """Whether derive_schema writes a default of this type (it refuses bytes, Decimal and
    record defaults, saying they have no Avro form)."""
    if typing.get_origin(hint) is Annotated or hint is bytes:
        return False
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        return False
    if "logical_type_defaults" in KNOWN_BUGS and hint in _LOGICAL:
        return False
    return all(_has_json_default(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)


def _dataclass_default(value: Any) -> Any:
    if isinstance(value, list):  # dataclasses refuse a mutable default: give a factory
        return dataclasses.field(default_factory=functools.partial(list, value))
    if isinstance(value, dict):
        return dataclasses.field(default_factory=functools.partial(dict, value))
    return value


# -- values ----------------------------------------------------------------------------------


def _values(hint: Any, *, nan: bool, finite: bool) -> st.SearchStrategy[Any]:
    """Values of ``hint``; ``finite``: no NaN or infinity (JSON, so a default, has neither)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Annotated:
        return _decimals(args[1])
    if origin in (typing.Union, types.UnionType):
        (inner,) = (arg for arg in args if arg is not type(None))
        return st.none() | _values(inner, nan=nan, finite=finite)
    if origin in (list, tuple):
        items = st.lists(_values(args[0], nan=nan, finite=finite), max_size=3)
        return items.map(tuple) if origin is tuple else items
    if origin is dict:
        return st.dictionaries(
            st.text(max_size=6), _values(args[1], nan=nan, finite=finite), max_size=3
        )
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return st.sampled_from(list(hint))
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        fields = dataclasses.fields(hint)  # type: ignore[arg-type]
        return st.fixed_dictionaries(
            {f.name: _values(f.type, nan=nan, finite=finite) for f in fields}
        ).map(lambda kwargs: hint(**kwargs))
    if hint is float:
        return st.floats(allow_nan=nan and not finite, allow_infinity=not finite)
    return _PLAIN[hint]


def _aware_millis() -> st.SearchStrategy[dt.datetime]:
    """Aware datetimes to the millisecond (timestamp-millis keeps no more), in UTC or at a
    fixed offset: the instant is what round-trips, and aware datetimes compare by instant."""
    offsets = st.sampled_from([0, 1, -5, 14, -12]).map(lambda h: dt.timezone(dt.timedelta(hours=h)))
    instants = st.integers(_MIN_MS, _MAX_MS).map(lambda ms: _EPOCH + dt.timedelta(milliseconds=ms))
    return st.builds(dt.datetime.astimezone, instants, offsets)


_PLAIN: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=10),
    int: st.integers(-_INT64, _INT64 - 1),
    bool: st.booleans(),
    bytes: st.binary(max_size=10),
    dt.datetime: _aware_millis(),
    dt.date: st.dates(),
    uuid.UUID: st.uuids(),
}


def _decimals(precision: Precision) -> st.SearchStrategy[Decimal]:
    """Decimals of at most ``precision`` digits, ``scale`` of them after the point, some
    written with fewer places (``1.5`` for a scale of 2, as a user may)."""
    limit = 10**precision.precision - 1

    def build(unscaled: int, fewer: int) -> Decimal:
        places = precision.scale
        while fewer and places and unscaled % 10 == 0:
            unscaled, places, fewer = unscaled // 10, places - 1, fewer - 1
        return Decimal(unscaled).scaleb(-places)

    return st.builds(build, st.integers(-limit, limit), st.integers(0, precision.scale))
