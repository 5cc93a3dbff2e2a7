"""Hypothesis strategies that generate random records of any Avro schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

_INT32 = 2**31
_INT64 = 2**63


def records(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Random values of a record schema, as fastavro reads them back (aware datetimes…)."""
    return _strategy(schema, {}, None)


def _millis() -> st.SearchStrategy[datetime]:
    return st.integers(-2_000_000_000_000, 7_000_000_000_000).map(
        lambda ms: datetime.fromtimestamp(ms / 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)
    )


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-_INT32, _INT32 - 1),
    "long": st.integers(-_INT64, _INT64 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "string": st.text(max_size=20),
    "bytes": st.binary(max_size=20),
}


def _strategy(
    schema: Any, named: dict[str, st.SearchStrategy[Any]], namespace: str | None
) -> st.SearchStrategy[Any]:
    if isinstance(schema, list):
        return st.one_of([_strategy(branch, named, namespace) for branch in schema])
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        key = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        return st.deferred(lambda: named.get(key) or named[schema])
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical == "timestamp-millis":
        return _millis()
    if logical == "uuid":
        return st.uuids()
    if kind in ("record", "enum", "fixed"):
        name = schema["name"]
        space = schema.get("namespace", namespace)
        full = name if "." in name or not space else f"{space}.{name}"
        inner_space = full.rpartition(".")[0] or None
        if kind == "enum":
            strategy: st.SearchStrategy[Any] = st.sampled_from(schema["symbols"])
        elif kind == "fixed":
            strategy = st.binary(min_size=schema["size"], max_size=schema["size"])
        else:
            strategy = st.fixed_dictionaries(
                {f["name"]: _strategy(f["type"], named, inner_space) for f in schema["fields"]}
            )
        named[full] = strategy
        return strategy
    if kind == "array":
        return st.lists(_strategy(schema["items"], named, namespace), max_size=4)
    if kind == "map":
        return st.dictionaries(
            st.text(max_size=8), _strategy(schema["values"], named, namespace), max_size=4
        )
    return _strategy(kind, named, namespace)
