"""Records made by from_avro are the records __init__ makes, whichever way they were built.

from_avro skips ``__init__`` for a plain frozen dataclass (it only sets the fields) and
calls it for every other class; these tests hold both ways to what ``__init__`` gives.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
import sys
import uuid
from dataclasses import InitVar, dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import pytest

from streamworks import AvroRecord
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.records import _init_only_sets
from streamworks.schemas.typed import RecordCodec


class Level(StrEnum):
    LOW = "LOW"
    HIGH = "HIGH"


@dataclass(frozen=True)
class Point(AvroRecord, namespace="test.records"):
    x: int
    y: int


@dataclass(frozen=True)
class Plain(AvroRecord, namespace="test.records"):
    name: str
    count: int
    ratio: float
    at: dt.datetime
    note: str | None = None


NO_ID = uuid.UUID(int=0)


@dataclass(frozen=True)
class Converted(AvroRecord, namespace="test.records"):
    """Some fields need converting (enum, tuple, nested record, a logical default)."""

    name: str
    level: Level
    tags: tuple[str, ...]
    where: Point
    maybe: Point | None = None
    ident: uuid.UUID = NO_ID


@dataclass(frozen=True, slots=True)
class Slotted(AvroRecord, namespace="test.records"):
    name: str
    level: Level
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Normalised(AvroRecord, namespace="test.records"):
    code: str
    amount: int

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError(f"amount must not be negative, got {self.amount}")
        object.__setattr__(self, "code", self.code.upper())


@dataclass(frozen=True)
class OwnInit(AvroRecord, namespace="test.records"):
    code: str

    def __init__(self, code: str) -> None:
        object.__setattr__(self, "code", code.strip())


@dataclass(frozen=True)
class WithCache(AvroRecord, namespace="test.records"):
    first: str
    last: str

    @cached_property
    def full(self) -> str:
        return f"{self.first} {self.last}"


AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
VALUES: list[AvroRecord] = [
    Plain("a", 1, 0.5, AT),
    Plain("a", 1, 0.5, AT, note="n"),
    Converted("c", Level.HIGH, ("t", "u"), Point(1, 2), Point(3, 4), uuid.UUID(int=9)),
    Slotted("s", Level.LOW, ("t",)),
    Normalised("ABC", 3),
    WithCache("Ada", "Lovelace"),
]


def _unpickled(value: AvroRecord) -> Any:
    return pickle.loads(pickle.dumps(value))  # noqa: S301 - bytes this test just wrote


def _ids(value: Any) -> str:
    return type(value).__name__


@pytest.mark.parametrize("value", VALUES, ids=_ids)
def test_a_record_read_back_is_equal_hashes_and_shows_alike(value: AvroRecord) -> None:
    read = type(value).from_avro(value.to_avro())
    assert read == value
    assert hash(read) == hash(value)
    assert repr(read) == repr(value)
    assert read is not value


@pytest.mark.parametrize("value", VALUES, ids=_ids)
def test_a_record_read_back_pickles_copies_and_replaces_like_one_made_by_init(
    value: AvroRecord,
) -> None:
    read = type(value).from_avro(value.to_avro())
    assert _unpickled(read) == value
    assert _unpickled(value) == read
    assert copy.copy(read) == value
    assert copy.deepcopy(read) == value
    first = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    changed = dataclasses.replace(read, **{first: getattr(value, first)})  # type: ignore[type-var]
    assert changed == value
    assert type(changed) is type(value)


@pytest.mark.parametrize("value", [v for v in VALUES if not type(v).__dict__.get("__slots__")])
def test_a_record_read_back_holds_the_same_attributes_in_the_same_order(
    value: AvroRecord,
) -> None:
    read = type(value).from_avro(value.to_avro())
    assert list(vars(read).items()) == list(vars(value).items())


def test_a_record_read_back_is_frozen() -> None:
    read = Plain.from_avro(Plain("a", 1, 0.5, AT).to_avro())
    with pytest.raises(dataclasses.FrozenInstanceError):
        read.name = "b"  # type: ignore[misc]


def test_from_avro_reads_only_the_fields_and_leaves_the_callers_dict_alone() -> None:
    data: dict[str, Any] = {"name": "c", "level": "HIGH", "tags": ["t"], "where": {"x": 1, "y": 2}}
    data |= {"maybe": None, "ident": str(uuid.UUID(int=9)), "added_later": 5}
    kept = copy.deepcopy(data)
    read = Converted.from_avro(data)
    assert data == kept
    assert read == Converted("c", Level.HIGH, ("t",), Point(1, 2), None, uuid.UUID(int=9))
    data["name"] = "changed"
    assert read.name == "c"


def test_a_missing_field_is_named() -> None:
    with pytest.raises(KeyError, match="count"):
        Plain.from_avro({"name": "a", "ratio": 0.5, "at": AT, "note": None})


@pytest.mark.parametrize("value", VALUES, ids=_ids)
def test_changing_what_to_avro_returned_leaves_the_record_alone(value: AvroRecord) -> None:
    before = value.to_avro()
    written = value.to_avro()
    for name in list(written):
        written[name] = "changed"
    written["extra"] = 1
    assert value.to_avro() == before
    assert type(value).from_avro(before) == value


def test_to_avro_writes_only_the_fields_when_a_cached_property_is_set() -> None:
    value = WithCache("Ada", "Lovelace")
    assert value.full == "Ada Lovelace"
    assert value.to_avro() == {"first": "Ada", "last": "Lovelace"}


def test_post_init_still_runs() -> None:
    assert Normalised.from_avro({"code": "abc", "amount": 3}) == Normalised("ABC", 3)
    assert Normalised.from_avro({"code": "abc", "amount": 3}).code == "ABC"
    with pytest.raises(ValueError, match="negative"):
        Normalised.from_avro({"code": "abc", "amount": -1})


def test_a_class_s_own_init_still_runs() -> None:
    assert OwnInit.from_avro({"code": "  x "}).code == "x"


def test_records_decoded_from_bytes_are_equal_to_the_ones_encoded() -> None:
    registry = AvroCodec(InMemoryRegistry())
    for value in VALUES:
        codec = RecordCodec(type(value), registry, subject=f"{type(value).__name__}-value")
        read = codec.decode(codec.encode(value))
        assert read == value
        assert _unpickled(read) == value


# -- which records skip __init__ (the fast path: losing it costs time, not correctness) --


@dataclass(frozen=True)
class _WithInitVar(AvroRecord, namespace="test.records"):
    name: str
    scale: InitVar[int] = 1


@dataclass(frozen=True)
class _NotInInit(AvroRecord, namespace="test.records"):
    name: str
    count: int = field(default=0, init=False)


@dataclass(frozen=True)
class _WithNew(AvroRecord, namespace="test.records"):
    name: str

    def __new__(cls, *args: Any, **kwargs: Any) -> _WithNew:
        return super().__new__(cls)


@pytest.mark.parametrize(
    ("record_type", "skips"),
    [
        (Plain, True),
        (Converted, True),
        (WithCache, True),
        (Slotted, False),
        (Normalised, False),
        (OwnInit, False),
        (_WithInitVar, False),
        (_NotInInit, False),
        (_WithNew, False),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_only_a_plain_dataclass_skips_init(record_type: type[AvroRecord], skips: bool) -> None:
    names = [f.name for f in dataclasses.fields(record_type)]  # type: ignore[arg-type]
    assert _init_only_sets(record_type, names) is skips


def test_a_record_read_back_has_the_class_s_own_interned_field_names() -> None:
    """fastavro's keys are equal but not interned: kept, they slow every attribute read."""
    data = {"".join(["na", "me"]): "a", "count": 1, "ratio": 0.5, "at": AT, "note": None}
    read = Plain.from_avro(data)
    assert all(name is sys.intern(name) for name in vars(read))


def test_a_record_read_back_takes_no_more_memory_than_one_made_by_init() -> None:
    made = Plain("a", 1, 0.5, AT)
    read = Plain.from_avro(made.to_avro())
    assert sys.getsizeof(vars(read)) <= sys.getsizeof(vars(made))


class _Counting(type):
    made = 0

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        _Counting.made += 1
        return super().__call__(*args, **kwargs)


@dataclass(frozen=True)
class _MadeByMetaclass(AvroRecord, metaclass=_Counting):
    name: str


def test_a_metaclass_call_still_runs() -> None:
    before = _Counting.made
    assert _MadeByMetaclass.from_avro({"name": "a"}) == _MadeByMetaclass("a")
    assert _Counting.made == before + 2
