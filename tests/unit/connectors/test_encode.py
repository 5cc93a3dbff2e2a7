"""The one-pass encoder is the coercer followed by fastavro: same bytes, same errors.

The oracle is ``compile_schema(schema)(value)`` written by ``fastavro.schemaless_writer``.
For random values (many of them wrong) of every contract and of a schema using every Avro
type, the encoder must return the oracle's bytes, or raise the oracle's Invalid (same path,
same reason). Where the two-step path failed some other way (fastavro could not write a
coerced value, or the coercer itself raised a raw exception), it must raise Unencodable.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas  # noqa: F401  (the reference project's contracts: real schemas to encode)
from streamworks.connectors.base._coerce import Invalid, compile_schema
from streamworks.connectors.base._encode import Unencodable, compile_encoder
from streamworks.schemas.catalog import contracts

EVERY_TYPE: dict[str, Any] = {
    "type": "record",
    "name": "Every",
    "namespace": "test.encode",
    "fields": [
        {"name": "nothing", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "precise", "type": "double", "default": 0.5},
        {"name": "name", "type": "string", "default": "anon"},
        {"name": "blob", "type": "bytes"},
        {"name": "code", "type": {"type": "fixed", "name": "Code", "size": 4}},
        {
            "name": "colour",
            "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]},
            "default": "GREEN",
        },
        {"name": "at_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
        },
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "counts", "type": {"type": "map", "values": "long"}, "default": {}},
        {"name": "maybe_text", "type": ["null", "string"], "default": None},
        {"name": "maybe_int", "type": ["int", "null"], "default": 7},
        {"name": "choice", "type": ["null", "long", "string"], "default": None},
        {"name": "colour_or_text", "type": ["Colour", "string"], "default": "RED"},
        {
            "name": "when_or_text",
            "type": [{"type": "long", "logicalType": "timestamp-millis"}, "string"],
        },
        {"name": "either_float", "type": ["null", "float", "double"], "default": None},
        {
            "name": "list_or_map",
            "type": [
                "null",
                {"type": "array", "items": "int"},
                {"type": "map", "values": "string"},
            ],
            "default": None,
        },
        {"name": "maybe_code", "type": ["null", "Code"], "default": None},
        {
            "name": "inner",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Inner",
                    "fields": [
                        {"name": "x", "type": "int"},
                        {"name": "y", "type": ["null", "string"], "default": None},
                        {"name": "shade", "type": "Colour", "default": "BLUE"},
                    ],
                },
            ],
            "default": None,
        },
        {"name": "inner_default", "type": "Inner", "default": {"x": 3}},
        {
            "name": "tree",
            "type": {
                "type": "record",
                "name": "Node",
                "fields": [
                    {"name": "label", "type": "string"},
                    {"name": "kids", "type": {"type": "array", "items": "Node"}, "default": []},
                ],
            },
            "default": {"label": "root"},
        },
        {
            "name": "at_default",
            "type": {"type": "long", "logicalType": "timestamp-millis"},
            "default": 0,
        },
    ],
}

SCHEMAS = {topic: c.schema for topic, c in sorted(contracts().items())} | {"every": EVERY_TYPE}

ZONES = st.sampled_from(
    [
        None,
        UTC,
        timezone(timedelta(hours=5, minutes=30)),
        timezone(-timedelta(hours=23, minutes=59)),
    ]
)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    st.binary(max_size=4),
    st.just([]),
    st.just({}),
)
_MS_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # years 1 to 9999 in epoch millis


def _spaced(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, f" {text} ", f"{text}\t"])


def _named(schema: Any, namespace: str, into: dict[str, Any]) -> dict[str, Any]:
    """Every named type in ``schema`` by short and full name."""
    if isinstance(schema, list):
        for branch in schema:
            _named(branch, namespace, into)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            space = schema.get("namespace", namespace)
            into[schema["name"]] = schema
            into[f"{space}.{schema['name']}"] = schema
            namespace = space
        for spec in schema.get("fields", []):
            _named(spec["type"], namespace, into)
        for key in ("items", "values"):
            if key in schema:
                _named(schema[key], namespace, into)
    return into


class Values:
    """Strategies for one schema: ``good`` values fit it; ``risky`` ones are near misses.

    A record is mostly good fields with at most one risky one, so that most records get
    deep enough to test something rather than failing at their first field.
    """

    def __init__(self, schema: dict[str, Any], text: bool) -> None:
        self.named = _named(schema, "", {})
        self.text = text
        self.top = self.record(schema, 0)

    def resolve(self, schema: Any) -> Any:
        return self.named.get(schema, schema) if isinstance(schema, str) else schema

    def good(self, schema: Any, depth: int) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if isinstance(schema, list):
            nothing = [st.just("")] if self.text and "null" in schema else []
            return st.one_of([self.good(b, depth) for b in schema] + nothing)
        if isinstance(schema, str):
            return self._good_primitive(schema)
        kind, logical = schema.get("type"), schema.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros"):
            millis = st.integers(-(2**43), 2**43) | st.integers(*_MS_RANGE)
            spelled = [millis.map(str).flatmap(_spaced)] if self.text else []
            # fastavro reads timestamps back as UTC datetimes: only instants UTC can hold
            times = st.datetimes(timezones=ZONES).filter(_in_utc_range)
            return st.one_of([times, times.map(lambda t: t.isoformat()), millis, *spelled])
        if logical == "date":
            days = st.integers(-719_162, 2_932_896)
            return st.dates().map(lambda d: d.isoformat()).flatmap(_spaced) | days
        if logical == "uuid":
            ids = st.uuids()
            return st.one_of(ids.map(str), ids.map(lambda u: u.hex), ids.map(lambda u: u.urn))
        if logical == "decimal":
            numbers = st.decimals(places=2, min_value=-9999, max_value=9999)
            return st.one_of(numbers, numbers.map(str).flatmap(_spaced), st.integers(-999, 999))
        if kind == "record":
            return self.record(schema, depth)
        if kind == "enum":
            return st.sampled_from(schema["symbols"])
        if kind == "array":
            return st.lists(self.good(schema["items"], depth + 1), max_size=0 if depth > 3 else 3)
        if kind == "map":
            entries = self.good(schema["values"], depth + 1)
            return st.dictionaries(st.text(max_size=3), entries, max_size=3)
        if kind == "fixed":
            exact = st.binary(min_size=schema["size"], max_size=schema["size"])
            return exact | exact.map(lambda b: base64.b64encode(b).decode())
        return self.good(kind, depth)

    def _good_primitive(self, kind: str) -> st.SearchStrategy[Any]:
        if kind == "null":
            return st.none()
        if kind == "boolean":
            spelled = st.sampled_from(["true", "FALSE", "True"]) if self.text else st.nothing()
            return st.booleans() | spelled
        if kind in ("int", "long"):
            bound = 2**31 if kind == "int" else 2**63
            number = st.integers(-bound, bound - 1)
            spelled = number.map(str).flatmap(_spaced) if self.text else st.nothing()
            return st.one_of(number, st.integers(-(2**52), 2**52).map(float), spelled)
        if kind in ("float", "double"):
            spelled = st.floats().map(repr).flatmap(_spaced) if self.text else st.nothing()
            return st.one_of(
                st.floats(), st.floats(width=32), st.integers(-(2**70), 2**70), spelled
            )
        if kind == "string":
            return st.text(max_size=12) | st.text(min_size=70, max_size=90)
        if kind == "bytes":
            raw = st.binary(max_size=8)
            return raw | raw.map(lambda b: base64.b64encode(b).decode())
        raise AssertionError(kind)

    def risky(self, schema: Any, depth: int) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if isinstance(schema, list):
            return st.one_of([self.risky(b, depth) for b in schema])
        if isinstance(schema, str):
            return _risky_primitive(schema) | JUNK
        kind, logical = schema.get("type"), schema.get("logicalType")
        if logical in ("timestamp-millis", "timestamp-micros"):
            odd = ["²", "--5", "-12", "2026-11-27", "yesterday", " 12 ", 1.5, "1" * 5000]
            return st.integers() | st.sampled_from(odd) | JUNK
        if logical == "date":
            return st.integers() | st.dates() | st.sampled_from(["2026-02-30", "1" * 5000]) | JUNK
        if logical == "uuid":
            return st.uuids().map(lambda u: u.bytes) | st.sampled_from(["{x}", "x" * 32]) | JUNK
        if logical == "decimal":
            odd = ["nan", "sNaN", "inf", "1e30", "123456.7", "1" * 5000, 10**5000, True]
            return st.one_of(st.decimals(), st.floats(), st.sampled_from(odd), JUNK)
        if kind == "record":
            return self.record(schema, depth, faulty=True) | JUNK
        if kind in ("array", "map"):
            inner = self.risky(schema["items" if kind == "array" else "values"], depth + 1)
            spoilt = (
                st.lists(inner, min_size=1, max_size=2)
                if kind == "array"
                else st.dictionaries(st.text(max_size=2), inner, min_size=1, max_size=2)
            )
            oddkey = st.just({"lone \ud800": None}) if kind == "map" else st.nothing()
            return spoilt | oddkey | JUNK
        if kind == "fixed":
            return st.binary(max_size=6) | st.sampled_from(["é", "not base64!"]) | JUNK
        return JUNK

    def record(
        self, schema: dict[str, Any], depth: int, faulty: bool = False
    ) -> st.SearchStrategy[Any]:
        if depth > 3:
            return st.just({"label": "leaf"}) if schema["name"] == "Node" else JUNK
        fields = schema["fields"]
        required = {
            f["name"]: self.good(f["type"], depth + 1) for f in fields if "default" not in f
        }
        optional = {f["name"]: self.good(f["type"], depth + 1) for f in fields if "default" in f}
        good = st.fixed_dictionaries(required, optional=optional)

        @st.composite
        def one_fault(draw: st.DrawFn) -> dict[str, Any]:
            value = draw(good)
            field = draw(st.sampled_from(fields))
            value[field["name"]] = draw(self.risky(field["type"], depth + 1))
            return value

        @st.composite
        def one_missing(draw: st.DrawFn) -> dict[str, Any]:
            value = draw(good)
            if value:
                del value[draw(st.sampled_from(sorted(value)))]
            return value

        faults = st.one_of(one_fault(), one_missing(), good.map(lambda v: {**v, "surprise": 1}))
        return faults if faulty else good | faults


SCHEMAS = {topic: c.schema for topic, c in sorted(contracts().items())} | {"every": EVERY_TYPE}


def _deferred(schema: dict[str, Any], text: bool) -> st.SearchStrategy[Any]:
    """Built on first use, with a short repr (hypothesis prints a strategy it abandons)."""
    return st.deferred(lambda: Values(schema, text).top)


VALUES = {
    (topic, text): _deferred(schema, text)
    for topic, schema in SCHEMAS.items()
    for text in (False, True)
}


def _risky_primitive(kind: str) -> st.SearchStrategy[Any]:
    if kind in ("int", "long"):
        bound = 2**31 if kind == "int" else 2**63
        edges = [-bound - 1, -bound, bound - 1, bound, 1.5, "1.5", "١٢", "x", "", "1" * 5000]
        return st.integers() | st.sampled_from(edges) | st.integers().map(str)
    if kind in ("float", "double"):
        odd = [2**1100, "1e999", "-inf", "nan", "1_000", "abc", "3.4e38", "3.5e38", 1e300]
        return st.sampled_from(odd) | st.floats().map(repr)
    if kind == "string":
        return st.just("lone \ud800 surrogate")
    if kind == "bytes":
        return st.text(max_size=6) | st.just("é")
    if kind == "boolean":
        return st.sampled_from(["yes", "", "1", 1, 0])
    return st.nothing()


def oracle(schema: Any, value: Any, text: bool) -> bytes | Invalid | str:
    """The two-step path's outcome: bytes, its Invalid, or which other failure it had."""
    try:
        coerced = compile_schema(schema, text=text)(value, "")
    except Invalid as error:
        return error
    except Exception:  # noqa: BLE001 - the coercer's own crashes are one of the outcomes
        return "coercer crashed"
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), coerced)
    except Exception:  # noqa: BLE001 - fastavro raises many types; all mean "unwritable"
        return "fastavro failed"
    return buffer.getvalue()


@pytest.mark.parametrize("text", [False, True], ids=["json", "text"])
@pytest.mark.parametrize("topic", sorted(SCHEMAS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_encoder_matches_coercion_then_fastavro(
    topic: str, text: bool, data: st.DataObject
) -> None:
    schema = SCHEMAS[topic]
    value = data.draw(VALUES[topic, text], label="value")
    expected = oracle(schema, value, text)
    encode = compile_encoder(schema, text=text)
    if isinstance(expected, bytes):
        got = encode(value, "")
        assert got == expected
        buffer = io.BytesIO(got)
        decoded = fastavro.schemaless_reader(buffer, fastavro.parse_schema(schema), None)
        assert buffer.tell() == len(got)
        again = io.BytesIO()
        fastavro.schemaless_writer(again, fastavro.parse_schema(schema), decoded)
        assert again.getvalue() == got
        return
    with pytest.raises(Invalid) as caught:
        encode(value, "")
    if isinstance(expected, Invalid):
        assert not isinstance(caught.value, Unencodable), expected
        assert (caught.value.path, caught.value.reason) == (expected.path, expected.reason)
    else:
        assert isinstance(caught.value, Unencodable), expected


def _in_utc_range(moment: datetime) -> bool:
    """True when ``moment`` (naive: UTC) is an instant a UTC datetime can express."""
    if moment.tzinfo is None:
        return True
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True
