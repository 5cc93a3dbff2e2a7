"""The bridge between frozen record dataclasses and the dicts fastavro reads and writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import inspect
import linecache
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from streamworks.schemas.catalog import contract_of

__all__ = ["AvroRecord"]

_Convert = Callable[[Any], Any]


class AvroRecord:
    """Base of the typed records: frozen dataclasses whose fields are the record's.

    By default a record's Avro schema is derived from its fields
    (:func:`~streamworks.schemas.derive.derive_schema`), in the namespace given by
    ``namespace=`` or else the class's module::

        @dataclass(frozen=True)
        class Reading(AvroRecord, namespace="iot"):
            device_id: str
            temp_c: float

    A class may instead mirror a hand-written contract, an ``.avsc`` file of a folder made
    known with :func:`~streamworks.schemas.catalog.use_contracts` (or ``Pipeline(...,
    contracts=...)``), by naming it: ``class Reading(AvroRecord, contract="iot.reading")``.
    The class must then fit the file; where it does not, the lookup fails naming the field.
    A contract is a schema, not a topic: any topic may carry the record.
    """

    avro_contract: ClassVar[str | None] = None
    """The hand-written contract this class mirrors; None when its schema is derived."""
    avro_namespace: ClassVar[str | None] = None
    """The namespace of the derived schema; None: the class's module."""
    _avro_read: ClassVar[Callable[[Mapping[str, Any]], Any] | None] = None
    _avro_write: ClassVar[Callable[[Any], dict[str, Any]] | None] = None

    def __init_subclass__(
        cls, *, contract: str | None = None, namespace: str | None = None, **options: Any
    ) -> None:
        super().__init_subclass__(**options)
        # dataclass(slots=True) builds the class anew, without these arguments: keep them
        if contract is not None or "avro_contract" not in cls.__dict__:
            cls.avro_contract = contract
        if namespace is not None or "avro_namespace" not in cls.__dict__:
            cls.avro_namespace = namespace

    def to_avro(self) -> dict[str, Any]:
        """The record as the dict fastavro writes (nested records as dicts, tuples as lists).

        The dict is new: the caller may change it without changing the record.
        """
        write = type(self).__dict__.get("_avro_write") or type(self)._build_write()
        return write(self)

    @classmethod
    def _build_write(cls) -> Callable[[Any], dict[str, Any]]:
        hints = typing.get_type_hints(cls)
        names = _field_names(cls)
        write = _compile_write(cls, names, [_writer(hints[name]) for name in names])
        cls._avro_write = write
        return write

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Self:
        """Build the record from a dict fastavro read (enums, tuples and nested records typed).

        Only the class's fields are read from ``data``, which is left as it was.
        """
        read = cls.__dict__.get("_avro_read") or cls._build_read()
        record: Self = read(data)
        return record

    @classmethod
    def _build_read(cls) -> Callable[[Mapping[str, Any]], Any]:
        hints = typing.get_type_hints(cls)
        defaulted = _defaulted_fields(cls)
        names = _field_names(cls)
        converts = [_converter(hints[name], logical=name in defaulted) for name in names]
        read = _compile_read(cls, names, converts)
        cls._avro_read = read
        return read


def _converter(hint: Any, *, logical: bool = False) -> _Convert | None:  # noqa: PLR0911
    """How to turn fastavro's value for a field of type ``hint`` into the typed value.

    None is returned where nothing needs doing, so the common fields cost nothing. A value
    a reader filled in from a schema default arrives in its JSON form (a date as days, a
    time as milliseconds, a UUID as text): with ``logical`` (a field the schema gives a
    default) those are converted too.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        single = _converter(options[0], logical=logical) if len(options) == 1 else None
        if single is None:
            return None
        return lambda value: None if value is None else single(value)
    if origin is typing.Annotated:
        return _converter(typing.get_args(hint)[0], logical=logical)
    if origin in (tuple, list):  # a default's items arrive raw as well
        item = _converter(typing.get_args(hint)[0], logical=logical)
        if item is None:
            return tuple if origin is tuple else None
        kind = origin
        return lambda values: kind(item(v) for v in values)
    if origin is dict:
        value = _converter(typing.get_args(hint)[1], logical=logical)
        if value is None:
            return None
        return lambda values: {k: value(v) for k, v in values.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        return hint.from_avro
    return _LOGICAL.get(hint) if logical else None


def _defaulted_fields(cls: type) -> set[str]:
    """The fields the class's schema gives a default: the ones a reader may fill in."""
    try:
        fields = contract_of(cls).schema["fields"]
    except Exception:  # noqa: BLE001 - no schema here: convert every field, to be safe
        return {item.name for item in dataclasses.fields(cls)}
    return {field["name"] for field in fields if "default" in field}


def _writer(hint: Any) -> _Convert | None:  # noqa: PLR0911 - one return per kind
    """How to turn a field's typed value into what fastavro writes; None: as it is.

    Records become dicts at any depth, and tuples become lists: fastavro reads a tuple
    written to a union as ``(branch name, value)``.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(options) > 1:
            return _any_writer
        single = _writer(options[0])
        if single is None:
            return None
        return lambda value: None if value is None else single(value)
    if origin is typing.Annotated:
        return _writer(typing.get_args(hint)[0])
    if origin in (tuple, list):
        item = _writer(typing.get_args(hint)[0])
        if item is None:
            return list if origin is tuple else None
        return lambda values: [item(v) for v in values]
    if origin is dict:
        value = _writer(typing.get_args(hint)[1])
        if value is None:
            return None
        return lambda values: {k: value(v) for k, v in values.items()}
    if isinstance(hint, type) and issubclass(hint, AvroRecord):
        return _record_writer
    return None


def _record_writer(record: AvroRecord) -> dict[str, Any]:
    return record.to_avro()


def _any_writer(value: Any) -> Any:
    """A union of several types: convert by what the value is."""
    if isinstance(value, AvroRecord):
        return value.to_avro()
    if isinstance(value, list | tuple):
        return [_any_writer(v) for v in value]
    if isinstance(value, dict):
        return {k: _any_writer(v) for k, v in value.items()}
    return value


# -- from_avro and to_avro of a class: generated once, as dataclasses generates __init__ ------


def _field_names(cls: type) -> list[str]:
    return [item.name for item in dataclasses.fields(cls)]


def _compile_read(
    cls: type, names: list[str], converts: list[_Convert | None]
) -> Callable[[Mapping[str, Any]], Any]:
    """``from_avro`` of ``cls``: one expression per field and no loop over them.

    Where ``__init__`` would only set the fields (:func:`_init_only_sets`), it is skipped
    and the fields are stored straight into the new record's ``__dict__``, which is what
    ``__init__`` does at the cost of a call per field. That dict shares its keys with the
    class's other records, so it takes half the memory of a dict of the fields set as
    ``__dict__`` (and is quicker to fill); fastavro's dict is not taken over either, so the
    caller keeps it, and its keys, equal strings but not the interned names, would make
    every attribute read several times slower. A plain record is read about three times
    faster so; one that ``__init__`` must make, up to one and a half times.
    """
    scope: dict[str, Any] = {"_cls": cls, "_new": object.__new__}
    values = [
        _unless_none(f"data[{name!r}]", f"_c{index}", convert, scope)
        for index, (name, convert) in enumerate(zip(names, converts, strict=True))
    ]
    pairs = list(zip(names, values, strict=True))
    if _init_only_sets(cls, names):
        stores = [f"fields[{name!r}] = {value}" for name, value in pairs]
        body = ["record = _new(_cls)", "fields = record.__dict__", *stores, "return record"]
    elif _positional(cls, names):
        body = [f"return _cls({', '.join(values)})"]
    else:
        body = [f"return _cls({', '.join(f'{name}={value}' for name, value in pairs)})"]
    read: Callable[[Mapping[str, Any]], Any] = _compile(cls, "from_avro", "data", body, scope)
    return read


def _compile_write(
    cls: type, names: list[str], writes: list[_Convert | None]
) -> Callable[[Any], dict[str, Any]]:
    """``to_avro`` of ``cls``: a copy of the record's ``__dict__`` where that holds the
    fields (converting the few that need it), else each field read by name.

    A dict holding more than the fields (a ``cached_property`` stores its value there) is
    not copied: the fields are read one by one then.
    """
    scope: dict[str, Any] = {}
    by_name = ", ".join(
        f"{name!r}: {_unless_none(f'self.{name}', f'_w{index}', write, scope)}"
        for index, (name, write) in enumerate(zip(names, writes, strict=True))
    )
    body = [f"return {{{by_name}}}"]
    if _in_instance_dict(cls, names):
        converted = [
            line
            for index, (name, write) in enumerate(zip(names, writes, strict=True))
            if write is not None
            for line in (
                f"if (_v := record[{name!r}]) is not None:",
                f"    record[{name!r}] = _w{index}(_v)",
            )
        ]
        body = [
            "fields = self.__dict__",
            f"if len(fields) != {len(names)}:",
            f"    return {{{by_name}}}",
            "record = fields.copy()",
            *converted,
            "return record",
        ]
    write: Callable[[Any], dict[str, Any]] = _compile(cls, "to_avro", "self", body, scope)
    return write


def _unless_none(value: str, name: str, convert: _Convert | None, scope: dict[str, Any]) -> str:
    """The expression ``value``, passed to ``convert`` (known as ``name``) unless None."""
    if convert is None:
        return value
    scope[name] = convert
    return f"(None if (_v := {value}) is None else {name}(_v))"


def _compile(cls: type, name: str, parameter: str, body: list[str], scope: dict[str, Any]) -> Any:
    """The function ``name(parameter)`` of ``body``, its source kept for tracebacks."""
    source = f"def {name}({parameter}):\n" + "".join(f"    {line}\n" for line in body)
    filename = f"<{name} of {cls.__module__}.{cls.__qualname__}>"
    # the field names appear in repr() or as attribute names, which dataclasses compiles
    # into __init__ and __repr__ the same way
    exec(compile(source, filename, "exec"), scope)  # noqa: S102
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return scope[name]


def _init_only_sets(cls: type, names: list[str]) -> bool:
    """True when making a record of ``cls`` does nothing but set its fields, so from_avro
    may skip ``__init__``: no ``__new__``, ``__post_init__`` or metaclass ``__call__`` of
    the class's own, and ``__init__`` assigns past any ``__setattr__`` (a frozen
    dataclass's does)."""
    params = getattr(cls, "__dataclass_params__", None)
    frozen = params is not None and params.frozen
    return (
        _in_instance_dict(cls, names)
        and _as_object_has(cls, "__new__")
        and not hasattr(cls, "__post_init__")
        and _class_attribute(type(cls), "__call__") is type.__dict__["__call__"]
        and (frozen or _as_object_has(cls, "__setattr__"))
    )


def _in_instance_dict(cls: type, names: list[str]) -> bool:
    """True when a record of ``cls`` holds each field in its ``__dict__`` and reading it
    reads that: ``__init__`` is the one dataclasses wrote for exactly these fields, and no
    slot, property or other data descriptor of the class stands in for one."""
    code = getattr(_class_attribute(cls, "__init__"), "__code__", None)
    # dataclasses compiles __init__ inside a function __create_fn__ (Python 3.11 to 3.13);
    # a class's own __init__, which @dataclass keeps, is not, and keeps the general path
    generated = code is not None and code.co_qualname == "__create_fn__.<locals>.__init__"
    return (
        generated
        and cls.__dictoffset__ != 0
        and _as_object_has(cls, "__getattribute__")
        and [item.name for item in _init_parameters(cls) or ()] == names
        and not any(_is_data_descriptor(_class_attribute(cls, name)) for name in names)
    )


def _positional(cls: type, names: list[str]) -> bool:
    """True when ``__init__`` takes exactly the fields, in order, by position too (which
    is faster to call than by keyword)."""
    parameters = _init_parameters(cls)
    return (
        parameters is not None
        and [item.name for item in parameters] == names
        and all(item.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for item in parameters)
    )


def _init_parameters(cls: type) -> list[inspect.Parameter] | None:
    """The parameters of ``cls.__init__`` after ``self``; None where they cannot be read."""
    try:
        init: Any = _class_attribute(cls, "__init__")
        return list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):  # a builtin without a signature
        return None


def _class_attribute(cls: type, name: str) -> object:
    """What the class (not its metaclass) has under ``name``, as an instance would find it."""
    return next((klass.__dict__[name] for klass in cls.__mro__ if name in klass.__dict__), None)


def _as_object_has(cls: type, name: str) -> bool:
    """True when ``cls`` has ``object``'s own ``name``, not one of its own."""
    return _class_attribute(cls, name) is object.__dict__[name]


def _is_data_descriptor(attribute: object) -> bool:
    kind = type(attribute)
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_DAY = dt.date(1970, 1, 1)

_LOGICAL: dict[Any, _Convert] = {
    dt.datetime: lambda v: (
        v if isinstance(v, dt.datetime) else _EPOCH + dt.timedelta(milliseconds=v)
    ),
    dt.date: lambda v: v if isinstance(v, dt.date) else _EPOCH_DAY + dt.timedelta(days=v),
    uuid.UUID: lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(v),
}
"""Logical types whose schema defaults fastavro hands over in their JSON form."""
