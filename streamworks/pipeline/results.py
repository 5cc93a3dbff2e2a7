"""What an aggregation writes when it is not told: a result record derived from its parts.

An aggregation needs an output record class and an ``emit`` that builds one from a key,
its window and the aggregator's result. Both can be left out:

* with neither, the stage writes a record class of its own, named after the stage, with the
  fields ``key``, ``window_start`` and ``window_end`` (windowed aggregations only; UTC
  timestamps) and one field per aggregator of a :class:`Combine` (``value`` for a single
  aggregator), typed from the aggregators (:func:`result_type`);
* with an ``output_type`` but no ``emit``, the fields of that class are filled by name from
  the same values, so a class of your own with those field names needs no ``emit``;
* an ``emit`` of your own takes ``(key, window, result)`` for a windowed aggregation (the
  window is never None there) and ``(key, result)`` or ``(key, None, result)`` without one.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.aggregation import Emitter
from streamworks.pipeline.aggregators import (
    Aggregator,
    Combine,
    Count,
    DistinctCount,
    Max,
    Mean,
    Min,
    Sum,
)
from streamworks.pipeline.windows import Window
from streamworks.schemas.records import AvroRecord

__all__ = ["emitter", "result_record", "result_type"]

_BUILT_IN: dict[type, Any] = {
    Count: int,
    DistinctCount: int,
    Sum: float,
    Mean: float | None,
    Min: float | None,
    Max: float | None,
}


def result_type(name: str, aggregator: Aggregator) -> Any:
    """The Python type of ``aggregator``'s result, for a derived record field.

    An aggregator of your own says it with a ``result_type`` attribute; the built-in numeric
    ones are known. Others (TopK, Reduce) need an ``output_type`` and an ``emit``.
    """
    declared = getattr(aggregator, "result_type", None)
    if declared is not None:
        return declared
    for kind, hint in _BUILT_IN.items():
        if isinstance(aggregator, kind):
            return hint
    raise ConfigurationError(
        f"the result of {name} ({type(aggregator).__name__}) has no known type; give the "
        "aggregation an output_type and an emit, or the aggregator a result_type"
    )


def result_record(
    pipeline: str, stage: str, aggregator: Aggregator, *, windowed: bool
) -> type[AvroRecord]:
    """The record class an aggregation writes when it is given none (see the module doc)."""
    fields: list[tuple[str, Any]] = [("key", str)]
    if windowed:
        fields += [("window_start", datetime), ("window_end", datetime)]
    if isinstance(aggregator, Combine):
        fields += [(name, result_type(name, part)) for name, part in aggregator.parts.items()]
    else:
        fields.append(("value", result_type(stage, aggregator)))
    clash = [name for name, _ in fields[3 if windowed else 1 :] if name in _RESERVED]
    if clash:
        raise ConfigurationError(
            f"aggregation {stage}: a part may not be called {', '.join(clash)} (a field of "
            "the derived result); rename it"
        )
    name = "".join(part.title() for part in re.split(r"[^0-9A-Za-z]+", stage) if part)
    namespace = re.sub(r"[^0-9A-Za-z_.]", "_", f"streamworks.results.{pipeline}")
    cls = types.new_class(
        f"{name or 'Result'}Result",
        (AvroRecord,),
        {"namespace": namespace},
        lambda body: body.update(
            {
                "__annotations__": dict(fields),
                "__doc__": f"A result of aggregation {stage}.",
                "__module__": __name__,  # not ``types``, where new_class would leave it
            }
        ),
    )
    return dataclasses.dataclass(frozen=True)(cls)


_RESERVED = ("key", "window_start", "window_end")


def emitter(
    stage: str,
    emit: Callable[..., AvroRecord] | None,
    output_type: type[AvroRecord],
    aggregator: Aggregator,
    *,
    windowed: bool,
) -> Emitter:
    """``emit`` as the runtime calls it; without one, ``output_type`` filled by field name."""
    if emit is not None:
        if _arity(emit) == 2:  # noqa: PLR2004 - (key, result)
            if windowed:
                raise ConfigurationError(
                    f"aggregation {stage} is windowed: its emit takes (key, window, result)"
                )
            two = emit
            return lambda key, _, result: two(key, result)
        return emit
    names = {item.name for item in dataclasses.fields(output_type)}  # type: ignore[arg-type]

    def by_name(key: str, window: Window | None, result: Any) -> AvroRecord:
        values: dict[str, Any] = {"key": key}
        if window is not None:
            values["window_start"] = datetime.fromtimestamp(window.start_ms / 1000, UTC)
            values["window_end"] = datetime.fromtimestamp(window.end_ms / 1000, UTC)
        values |= result if isinstance(result, dict) else {"value": result}
        return output_type(**{k: v for k, v in values.items() if k in names})

    offered = {"key", *(("window_start", "window_end") if windowed else ())}
    offered |= set(aggregator.parts) if isinstance(aggregator, Combine) else {"value"}
    missing = _required(output_type) - offered
    if missing:
        raise ConfigurationError(
            f"aggregation {stage}: without an emit, {output_type.__name__} is filled by field "
            f"name, and nothing gives {', '.join(sorted(missing))}; give an emit"
        )
    return by_name


def _required(output_type: type[AvroRecord]) -> set[str]:
    return {
        item.name
        for item in dataclasses.fields(output_type)  # type: ignore[arg-type]
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING
    }


def _arity(function: Callable[..., Any]) -> int:
    """How many positional arguments ``function`` requires."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: assume the full form
        return 3
    return sum(1 for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
