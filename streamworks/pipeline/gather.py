"""Scatter-gather: answers from several stages or services gathered into one record.

A request is scattered by a stage that writes it to several topics (return one
:class:`~streamworks.pipeline.stage.To` per topic); each service answers on an answers topic with
the request's correlation id. A gather stage collects the answers per correlation id and emits
one record when every expected answer arrived, or, once ``timeout`` seconds have passed
since the first answer, a partial one naming the answers that are missing.

It is an aggregation (durable, exactly-once where the pipeline is) whose window is the
gather itself: :class:`Gather` opens at the first answer and closes when complete or timed
out. An answer that arrives after its gather was emitted goes to the late topic; the gather
remembers emitted correlation ids for another ``timeout`` to tell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from streamworks.pipeline.aggregators import Aggregator
from streamworks.pipeline.windows import Touched, Window

__all__ = ["Answers", "Gather", "Gathered"]

_NOW = -(2**62)


@dataclass(frozen=True)
class Gathered:
    """What a gather emits for one correlation id."""

    answers: dict[str, Any]
    """Each answer's value by answer name."""
    missing: tuple[str, ...]
    """Expected answers that did not arrive in time (sorted); empty when complete."""

    @property
    def complete(self) -> bool:
        """True when every expected answer arrived."""
        return not self.missing


class Answers(Aggregator):
    """Keeps the latest value of each named answer: ``name(record) -> value(record)``."""

    def __init__(self, name: Callable[[Any], str], value: Callable[[Any], Any]) -> None:
        self._name = name
        self._value = value

    def lift(self, record: Any) -> Any:
        """``[name, value]`` of one answer."""
        return [self._name(record), self._value(record)]

    def initial(self) -> dict[str, Any]:
        """No answer yet."""
        return {}

    def add(self, state: dict[str, Any], value: list[Any]) -> dict[str, Any]:
        """The answer recorded (a repeated answer replaces the earlier one)."""
        return {**state, value[0]: value[1]}

    def merge(self, left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
        """Both sets of answers."""
        return {**left, **right}

    def result(self, state: dict[str, Any]) -> dict[str, Any]:
        """The answers by name."""
        return dict(state)


class Gather:
    """The window of one gather: from the first answer until complete or ``timeout``.

    The slot is ``{"s": first answer's time, "a": answers}`` while open and
    ``{"s": ..., "done": true}`` for another ``timeout`` after it was emitted.
    """

    def __init__(self, expected: Iterable[str], *, timeout: float) -> None:
        self.expected = frozenset(expected)
        if not self.expected or timeout <= 0:
            raise ValueError("a gather needs expected answer names and a timeout > 0")
        self.timeout_ms = round(timeout * 1000)
        self.grace_ms = 0

    def __repr__(self) -> str:
        return f"Gather(expected={sorted(self.expected)}, timeout_ms={self.timeout_ms})"

    def missing(self, answers: dict[str, Any]) -> tuple[str, ...]:
        """The expected names not among ``answers``."""
        return tuple(sorted(self.expected - set(answers)))

    def add(self, slot: Any, ts: int, value: Any, agg: Aggregator, now: int) -> tuple[Any, Touched]:
        if slot is None:
            slot = {"s": ts, "a": agg.initial()}
        slot["a"] = agg.add(slot["a"], value)
        return slot, [(self._window(slot), slot["a"])]

    def close(self, slot: Any, now: int, agg: Aggregator) -> tuple[Any, Touched]:
        if not slot:
            return None, []
        if slot.get("done"):
            return (None if now >= slot["s"] + 2 * self.timeout_ms else slot), []
        if self.missing(slot["a"]) and now < slot["s"] + self.timeout_ms:
            return slot, []
        closed: Touched = [(self._window(slot), slot["a"])]
        return {"s": slot["s"], "done": True}, closed

    def deadline(self, slot: Any) -> int | None:
        if not slot:
            return None
        if slot.get("done"):
            return int(slot["s"]) + 2 * self.timeout_ms
        if not self.missing(slot["a"]):
            return _NOW  # complete: emit at the end of this batch
        return int(slot["s"]) + self.timeout_ms

    def is_late(self, ts: int, now: int) -> bool:
        return False

    def rejects(self, slot: Any) -> bool:
        return bool(slot and slot.get("done"))

    def _window(self, slot: Any) -> Window:
        return Window(int(slot["s"]), int(slot["s"]) + self.timeout_ms)
