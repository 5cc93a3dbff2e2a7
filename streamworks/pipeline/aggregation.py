"""Declaring an aggregation: the fan-in of one or more topics into keyed, windowed state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.aggregators import Aggregator, Combine, Reduce
from streamworks.pipeline.windows import Session, Window, WindowKind
from streamworks.schemas.records import AvroRecord

__all__ = ["Aggregation", "EmitMode", "Emitter", "EventTime", "changelog_topic", "late_topic"]

EmitMode = Literal["update", "final"]
Emitter = Callable[[str, Window | None, Any], AvroRecord]
"""``emit(key, window, result)``: the output record for one key's (window's) result."""
EventTime = Callable[[Any], datetime | int]
"""A record's event time: an aware datetime or epoch milliseconds."""


def changelog_topic(pipeline: str, stage: str) -> str:
    """``<pipeline>.<stage>.changelog``: the compacted topic an aggregation's state lives in."""
    return f"{pipeline}.{stage}.changelog"


def late_topic(pipeline: str, stage: str) -> str:
    """``<pipeline>.<stage>.late``: records that arrived after their windows closed."""
    return f"{pipeline}.{stage}.late"


@dataclass(frozen=True)
class Aggregation:
    """What an aggregation stage folds, by which key and window, and what it emits.

    Every input record is folded into the state of ``key(record)`` (in ``window``, if any)
    by ``aggregator``. ``mode="update"`` emits the key's (window's) new result on every
    record, like a changelog; ``mode="final"`` emits each window once, when it closes.
    Windows close on *stream time*, one per task (input partition number): the event time
    every upstream partition feeding the task (its *origins*) has reached, a watermark.
    An origin silent for ``wait_for_origins`` seconds stops holding it back. With
    ``close_when_idle`` (seconds), a task that has had no record for that long first
    takes the largest event time it has seen, then follows the wall clock from there, so
    windows close when the input stops. docs/architecture.md ("Stream time") has the rules.
    """

    key: Callable[[Any], str] = field(repr=False)
    """The state's key for a record; the inputs are repartitioned by it unless told not to."""
    aggregator: Aggregator
    """What to compute per key (and window)."""
    output: str
    """The topic results are written to."""
    emit: Emitter = field(repr=False)
    """Builds the output record from the key, the window (None without) and the result."""
    window: WindowKind | None = None
    """Tumbling, hopping, sliding or session windows; None keeps one running value per key."""
    mode: EmitMode = "update"
    """Emit on every update, or once per window when it closes."""
    event_time: EventTime | None = field(default=None, repr=False)
    """Event time of a record; by default its Kafka timestamp."""
    close_when_idle: float | None = None
    """Seconds without records after which stream time jumps to the largest event time
    seen, then follows the wall clock."""
    wait_for_origins: float = 10.0
    """Seconds a silent upstream partition holds stream time back (heard from or not)."""
    standby: bool = False
    """Keep warm copies of the partitions this worker does not own, for fast takeover."""
    changelog: str = ""
    """The state's changelog topic (the pipeline fills it in)."""
    late: str = ""
    """The late-records topic (the pipeline fills it in)."""

    def __post_init__(self) -> None:
        if self.mode == "final" and self.window is None:
            raise ConfigurationError("mode='final' needs a window: running values never close")
        if isinstance(self.window, Session) and not _mergeable(self.aggregator):
            raise ConfigurationError("session windows need an aggregator that can merge states")
        if self.close_when_idle is not None and self.close_when_idle <= 0:
            raise ConfigurationError("close_when_idle must be a positive number of seconds")
        if self.wait_for_origins < 0:
            raise ConfigurationError("wait_for_origins must be a number of seconds, 0 or more")


def _mergeable(aggregator: Aggregator) -> bool:
    if isinstance(aggregator, Reduce):
        return aggregator.merge_states is not None
    if isinstance(aggregator, Combine):
        return all(_mergeable(part) for part in aggregator.parts.values())
    return True
