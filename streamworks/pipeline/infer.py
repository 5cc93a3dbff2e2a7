"""A stage's record types read from its function's annotations, so they are written once.

``async def clean(reading: Reading) -> CleanReading | None`` says that the stage reads
``Reading`` records and writes ``CleanReading`` ones; the declaration then needs only the
topics. A batch stage's function takes ``list[Reading]``. Explicit ``input_type=`` and
``outputs={topic: type}`` remain for when the annotations say something else (or nothing).
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.stage import To
from streamworks.schemas.records import AvroRecord

__all__ = ["input_type_of", "output_types_of", "resolve_outputs"]

_SEQUENCES = (
    list,
    tuple,
    collections.abc.Sequence,
    collections.abc.Iterable,
    collections.abc.Iterator,
)


def input_type_of(stage: str, function: Callable[..., Any], *, batch: bool) -> type[AvroRecord]:
    """The record type ``function``'s first parameter is annotated with."""
    hints = _hints(stage, function)
    parameters = list(inspect.signature(function).parameters)
    if not parameters or parameters[0] not in hints:
        raise ConfigurationError(
            f"stage {stage}: annotate the record parameter of {function.__name__} "
            "(e.g. reading: Reading) or give input_type="
        )
    hint = hints[parameters[0]]
    if batch:
        if typing.get_origin(hint) not in _SEQUENCES or not typing.get_args(hint):
            raise ConfigurationError(
                f"stage {stage}: a batch stage's function takes list[Record], not {hint!r}"
            )
        hint = typing.get_args(hint)[0]
    if not _is_record(hint):
        raise ConfigurationError(
            f"stage {stage}: {function.__name__} takes {_name(hint)}, not an AvroRecord class; "
            "give input_type="
        )
    return typing.cast(type[AvroRecord], hint)


def output_types_of(stage: str, function: Callable[..., Any]) -> list[type[AvroRecord]]:
    """The record classes ``function`` returns: those of a union, a list, or one class."""
    hints = _hints(stage, function)
    if "return" not in hints:
        return []
    found: list[type[AvroRecord]] = []
    _collect(hints["return"], found)
    return found


def resolve_outputs(
    stage: str,
    function: Callable[..., Any],
    outputs: str | dict[str, type[AvroRecord]],
) -> dict[str, type[AvroRecord]]:
    """``outputs`` as topic -> record type; a single topic takes the returned class.

    A return annotation that cannot match an output is refused here, naming the stage: a
    record class none of the outputs carries, or something that is not a record at all.
    """
    _check_return(stage, function, outputs)
    if isinstance(outputs, dict):
        return dict(outputs)
    kinds = output_types_of(stage, function)
    if len(kinds) != 1:
        said = ", ".join(k.__name__ for k in kinds) or "no record class"
        raise ConfigurationError(
            f"stage {stage}: {function.__name__} returns {said}; with outputs={outputs!r} it "
            f"must return exactly one record class, or give outputs={{topic: Record, ...}}"
        )
    return {outputs: kinds[0]}


def _check_return(
    stage: str, function: Callable[..., Any], outputs: str | dict[str, type[AvroRecord]]
) -> None:
    try:
        hint = typing.get_type_hints(function).get("return")
    except (NameError, TypeError):
        return  # unresolvable annotations: with outputs={...} they are not needed
    if hint is None:
        return
    strays = sorted({_name(leaf) for leaf in _leaves(hint) if not _may_return(leaf)})
    if strays:
        raise ConfigurationError(
            f"stage {stage}: {function.__name__} is annotated to return {', '.join(strays)}; "
            "a stage returns a record, a list of records, To(topic, record) or None"
        )
    if isinstance(outputs, dict):
        kinds = set(outputs.values())
        foreign = [k.__name__ for k in output_types_of(stage, function) if k not in kinds]
        if foreign:
            raise ConfigurationError(
                f"stage {stage}: {function.__name__} returns {', '.join(foreign)}, which no "
                f"output carries (outputs: "
                + ", ".join(f"{topic}: {kind.__name__}" for topic, kind in outputs.items())
                + ")"
            )


def _leaves(hint: Any) -> list[Any]:
    """The types a return annotation is made of: a union's options, a list's items."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return [leaf for option in typing.get_args(hint) for leaf in _leaves(option)]
    if origin in _SEQUENCES:
        return [leaf for item in typing.get_args(hint)[:1] for leaf in _leaves(item)] or [Any]
    return [hint]


def _may_return(leaf: Any) -> bool:
    return leaf in (Any, None, type(None), To) or _is_record(leaf)


def _collect(hint: Any, into: list[type[AvroRecord]]) -> None:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            _collect(option, into)
    elif origin in _SEQUENCES:
        for item in typing.get_args(hint)[:1]:
            _collect(item, into)
    elif _is_record(hint) and hint not in into:
        into.append(hint)


def _hints(stage: str, function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError) as error:
        raise ConfigurationError(
            f"stage {stage}: the annotations of {getattr(function, '__name__', function)} "
            f"cannot be resolved ({error}); import the record classes they name"
        ) from error


def _is_record(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, AvroRecord)


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or repr(hint)
