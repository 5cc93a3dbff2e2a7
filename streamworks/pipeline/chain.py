"""The chained form of an aggregation: a sentence instead of a call with ten arguments.

::

    (
        pipeline.stream("iot.clean", Reading)
        .group_by(lambda r: r.device_id)
        .hopping(300, 60, grace=120)
        .agg(avg=Mean(of=lambda r: r.temp_c), n=Count())
        .to("iot.averages")
    )

compiles to :meth:`~streamworks.pipeline.graph.Pipeline.aggregate`: the same stage, state,
changelog, late topic and queries. Each step returns a new, immutable builder, so a
grouped stream can feed several aggregations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.aggregation import EmitMode, EventTime
from streamworks.pipeline.aggregators import Aggregator, Combine
from streamworks.pipeline.stage import Stage
from streamworks.pipeline.windows import Hopping, Session, Sliding, Tumbling, WindowKind
from streamworks.schemas.records import AvroRecord

__all__ = ["Aggregated", "Grouped", "Stream"]

Aggregate = Callable[..., Stage[Any]]
"""The pipeline's ``aggregate`` method, which the last step calls."""


@dataclass(frozen=True)
class Stream:
    """Records of ``record_type`` on ``inputs``, as read by the stage the chain ends in."""

    aggregate: Aggregate = field(repr=False)
    inputs: tuple[str, ...]
    record_type: type[AvroRecord]

    def group_by(self, key: Callable[[Any], str], *, repartition: bool = True) -> Grouped:
        """Fold records by ``key(record)``; they are repartitioned by it first unless the
        inputs are already keyed (and co-partitioned) that way."""
        return Grouped(self, key, repartition)


@dataclass(frozen=True)
class Grouped:
    """A stream grouped by key, optionally windowed."""

    stream: Stream
    key: Callable[[Any], str]
    repartition: bool = True
    window: WindowKind | None = None

    def tumbling(self, size: float, *, grace: float = 0.0) -> Grouped:
        """Back-to-back windows of ``size`` seconds."""
        return replace(self, window=Tumbling(size, grace=grace))

    def hopping(self, size: float, step: float, *, grace: float = 0.0) -> Grouped:
        """Windows of ``size`` seconds starting every ``step`` seconds."""
        return replace(self, window=Hopping(size, step, grace=grace))

    def sliding(self, size: float, *, grace: float = 0.0) -> Grouped:
        """One window per record: the ``size`` seconds up to it."""
        return replace(self, window=Sliding(size, grace=grace))

    def session(self, gap: float, *, grace: float = 0.0) -> Grouped:
        """Sessions of records less than ``gap`` seconds apart."""
        return replace(self, window=Session(gap, grace=grace))

    def agg(self, aggregator: Aggregator | None = None, /, **parts: Aggregator) -> Aggregated:
        """What to compute: one aggregator, or several by name (``avg=Mean(...), n=Count()``)."""
        if (aggregator is None) == (not parts):
            raise ConfigurationError("agg() takes one aggregator, or several by name")
        return Aggregated(self, aggregator if aggregator is not None else Combine(parts))


@dataclass(frozen=True)
class Aggregated:
    """A grouped stream with its aggregation; :meth:`to` adds the stage."""

    grouped: Grouped
    aggregator: Aggregator

    def to(
        self,
        topic: str,
        *,
        name: str | None = None,
        mode: EmitMode = "update",
        event_time: EventTime | None = None,
        output_type: type[AvroRecord] | None = None,
        emit: Callable[..., AvroRecord] | None = None,
        close_when_idle: float | None = None,
        wait_for_origins: float = 10.0,
        standby: bool = False,
    ) -> Stage[Any]:
        """Write the results to ``topic`` from a stage called ``name`` (by default the
        topic's last dotted part). ``mode="final"`` emits each window once, when it closes."""
        stream = self.grouped.stream
        return stream.aggregate(
            name or topic.rsplit(".", 1)[-1],
            inputs=stream.inputs,
            input_type=stream.record_type,
            key=self.grouped.key,
            aggregator=self.aggregator,
            output=topic,
            output_type=output_type,
            emit=emit,
            window=self.grouped.window,
            mode=mode,
            event_time=event_time,
            repartition=self.grouped.repartition,
            close_when_idle=close_when_idle,
            wait_for_origins=wait_for_origins,
            standby=standby,
        )
