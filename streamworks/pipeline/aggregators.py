"""What an aggregation computes: count, sum, min, max, mean, distinct count, top-k, your own.

An aggregator folds values into a state and turns the state into a result. States are plain
JSON values (numbers, strings, lists, dicts) because they are written to the state store
and its changelog topic as they are. ``merge`` joins two states; session windows use it
when a record bridges two sessions.

Each aggregator takes an ``of`` function that picks its value from the input record (the
default is the record itself, which only :class:`Count` can use as is); :class:`Combine`
runs several aggregators over the same records and returns their results by name.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Aggregator",
    "Combine",
    "Count",
    "DistinctCount",
    "Max",
    "Mean",
    "Min",
    "Reduce",
    "Sum",
    "TopK",
]

Of = Callable[[Any], Any]


def _record(record: Any) -> Any:
    return record


class Aggregator(Protocol):
    """The four steps of a fold; states must be JSON values."""

    def lift(self, record: Any) -> Any:
        """The value this aggregator needs from ``record`` (a JSON value)."""

    def initial(self) -> Any:
        """The state before any value."""

    def add(self, state: Any, value: Any) -> Any:
        """``state`` with ``value`` folded in."""

    def merge(self, left: Any, right: Any) -> Any:
        """One state equal to folding both states' values."""

    def result(self, state: Any) -> Any:
        """What the aggregation emits for ``state``."""


@dataclass(frozen=True)
class Count:
    """How many records."""

    def lift(self, record: Any) -> Any:
        """Count needs nothing from the record."""
        return None

    def initial(self) -> int:
        """Zero."""
        return 0

    def add(self, state: int, value: Any) -> int:
        """One more."""
        return state + 1

    def merge(self, left: int, right: int) -> int:
        """Both counts."""
        return left + right

    def result(self, state: int) -> int:
        """The count."""
        return state


@dataclass(frozen=True)
class _OfRecord:
    """An aggregator of one value per record, ``of(record)``, whose state is its result."""

    of: Of = field(default=_record, repr=False)

    def lift(self, record: Any) -> Any:
        """The aggregated value."""
        return self.of(record)

    def result(self, state: Any) -> Any:
        """The state as it is."""
        return state


@dataclass(frozen=True)
class Sum(_OfRecord):
    """The sum of ``of(record)``."""

    def initial(self) -> int:
        """Zero."""
        return 0

    def add(self, state: Any, value: Any) -> Any:
        """Plus ``value``."""
        return state + value

    def merge(self, left: Any, right: Any) -> Any:
        """Both sums."""
        return left + right


@dataclass(frozen=True)
class _Extreme(_OfRecord):
    """The value of ``of(record)`` that beats all others (None before any record)."""

    def beats(self, value: Any, state: Any) -> bool:
        """True when ``value`` replaces ``state``."""
        raise NotImplementedError

    def initial(self) -> Any:
        """None: nothing seen."""
        return None

    def add(self, state: Any, value: Any) -> Any:
        """The winner of both."""
        return value if state is None or self.beats(value, state) else state

    def merge(self, left: Any, right: Any) -> Any:
        """The winner of both states."""
        return left if right is None else self.add(left, right)


@dataclass(frozen=True)
class Min(_Extreme):
    """The smallest ``of(record)`` (None before any record)."""

    def beats(self, value: Any, state: Any) -> bool:
        """Smaller wins."""
        return bool(value < state)


@dataclass(frozen=True)
class Max(_Extreme):
    """The largest ``of(record)`` (None before any record)."""

    def beats(self, value: Any, state: Any) -> bool:
        """Larger wins."""
        return bool(value > state)


@dataclass(frozen=True)
class Mean(_OfRecord):
    """The arithmetic mean of ``of(record)`` (None before any record)."""

    def initial(self) -> list[Any]:
        """Sum and count, both zero."""
        return [0, 0]

    def add(self, state: list[Any], value: Any) -> list[Any]:
        """Sum plus ``value``, count plus one."""
        return [state[0] + value, state[1] + 1]

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        """Both sums and counts."""
        return [left[0] + right[0], left[1] + right[1]]

    def result(self, state: list[Any]) -> float | None:
        """Sum over count."""
        return state[0] / state[1] if state[1] else None


@dataclass(frozen=True)
class DistinctCount(_OfRecord):
    """How many different ``of(record)`` values (kept exactly, so mind the cardinality)."""

    def initial(self) -> list[Any]:
        """No value seen."""
        return []

    def add(self, state: list[Any], value: Any) -> list[Any]:
        """``value`` remembered once."""
        if value not in state:
            state = [*state, value]
        return state

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        """The union."""
        seen = set(left)
        return left + [value for value in right if value not in seen]

    def result(self, state: list[Any]) -> int:
        """The number of distinct values."""
        return len(state)


@dataclass(frozen=True)
class TopK:
    """The ``k`` items with the largest scores: ``of(record)`` gives ``(score, item)``.

    An item keeps its best score; ties go to the item that sorts first.
    """

    k: int
    of: Of = field(default=_record, repr=False)

    def lift(self, record: Any) -> Any:
        """``[score, item]``."""
        score, item = self.of(record)
        return [score, item]

    def initial(self) -> list[Any]:
        """Nothing ranked."""
        return []

    def add(self, state: list[Any], value: list[Any]) -> list[Any]:
        """``value`` ranked in."""
        return self.merge(state, [value])

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        """The top ``k`` of both."""
        best: dict[Any, Any] = {}
        for score, item in (*left, *right):
            if item not in best or score > best[item]:
                best[item] = score
        top = heapq.nsmallest(self.k, best.items(), key=lambda pair: (-pair[1], pair[0]))
        return [[score, item] for item, score in top]

    def result(self, state: list[Any]) -> list[tuple[Any, Any]]:
        """``(item, score)`` pairs, best first."""
        return [(item, score) for score, item in state]


@dataclass(frozen=True)
class Reduce:
    """Your own fold: ``add(state, value)`` from ``initial``; ``merge`` for session windows."""

    initial_state: Any
    """The state before any value (a JSON value)."""
    add_value: Callable[[Any, Any], Any] = field(repr=False)
    """Fold one value in; return the new state (a JSON value)."""
    of: Of = field(default=_record, repr=False)
    merge_states: Callable[[Any, Any], Any] | None = field(default=None, repr=False)
    """Join two states; required for session windows only."""
    finish: Callable[[Any], Any] = field(default=_record, repr=False)
    """Turn the state into the result; by default the state is the result."""

    def lift(self, record: Any) -> Any:
        """The folded value."""
        return self.of(record)

    def initial(self) -> Any:
        """``initial_state``."""
        return self.initial_state

    def add(self, state: Any, value: Any) -> Any:
        """``add_value(state, value)``."""
        return self.add_value(state, value)

    def merge(self, left: Any, right: Any) -> Any:
        """``merge_states(left, right)``."""
        if self.merge_states is None:
            raise TypeError("this Reduce has no merge_states, which session windows need")
        return self.merge_states(left, right)

    def result(self, state: Any) -> Any:
        """``finish(state)``."""
        return self.finish(state)


class Combine:
    """Several aggregators over the same records; the result is a dict by name."""

    def __init__(self, parts: Mapping[str, Aggregator]) -> None:
        if not parts:
            raise ValueError("Combine needs at least one aggregator")
        self.parts = dict(parts)
        self._items = tuple(self.parts.items())

    def __repr__(self) -> str:
        return f"Combine({self.parts!r})"

    def lift(self, record: Any) -> Any:
        """Each part's value, in order."""
        return [part.lift(record) for _, part in self._items]

    def initial(self) -> list[Any]:
        """Each part's initial state."""
        return [part.initial() for _, part in self._items]

    def add(self, state: list[Any], value: list[Any]) -> list[Any]:
        """Each part's value folded into its state."""
        return [part.add(s, v) for (_, part), s, v in zip(self._items, state, value, strict=True)]

    def merge(self, left: list[Any], right: list[Any]) -> list[Any]:
        """Each part's states merged."""
        return [part.merge(a, b) for (_, part), a, b in zip(self._items, left, right, strict=True)]

    def result(self, state: list[Any]) -> dict[str, Any]:
        """Each part's result by name."""
        return {name: part.result(s) for (name, part), s in zip(self._items, state, strict=True)}
