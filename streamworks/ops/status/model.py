"""A pipeline's status as values: one :class:`StageStatus` per stage, in pipeline order.

These records are what ``streamworks status`` prints and what the autoscaler and the
dashboard read; :meth:`PipelineStatus.as_data` is their JSON shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from streamworks.ops.status.rates import StageFigures

__all__ = ["PipelineStatus", "StageKind", "StageStatus", "Trend", "stage_status"]

StageKind = Literal["stage", "aggregation"]
"""What a stage does with its inputs: maps them to outputs, or folds them into state."""

Trend = Literal["growing", "shrinking", "steady"]
"""How a stage's lag in records moved since the previous sample."""


@dataclass(frozen=True)
class StageStatus:
    """One stage's pool, backlog and throughput at one moment."""

    name: str
    """Stage name (aggregations and ``<name>.repartition`` stages included)."""
    group: str
    """Its consumer group."""
    inputs: tuple[str, ...]
    """Topics it reads."""
    kind: StageKind
    """``aggregation`` for a stage that folds its inputs into state (its ``<name>.repartition``
    stage is a ``stage``)."""
    workers: int
    """Live workers: members of its consumer group."""
    partitions: int
    """Partitions of its inputs, summed: the most workers that can be busy."""
    lag_records: int
    """Records in its inputs not yet committed by its group (uncommitted partitions count
    from their beginning)."""
    lag_seconds: float
    """Age of its oldest unconsumed record; 0 without lag."""
    in_per_s: float
    """Input records handled per second, over its live workers' last two stats records."""
    out_per_s: float
    """Output records written per second, likewise."""
    records_in: int
    """Input records handled, all workers ever (restarts included)."""
    out: int
    """Records written to its outputs (an aggregation: the results it emitted); a flat-map
    writes several per input, so this is not an input-side figure."""
    produced: int | None
    """A stage's inputs that produced at least one output; None for an aggregation.
    ``records_in = produced + filtered + dead_lettered``."""
    folded: int | None
    """An aggregation's inputs folded into its state; None for other stages.
    ``records_in = folded + filtered + dead_lettered + late``."""
    filtered: int
    """Inputs filtered out."""
    dead_lettered: int
    """Inputs sent to its dead-letter topic."""
    late: int | None
    """An aggregation's inputs that arrived after their window's grace (sent to its late
    topic); None for other stages, which have no windows."""
    trend: Trend | None = None
    """Lag movement since the previous sample; None on a first sample."""
    bottleneck: bool = False
    """True for the one stage holding the pipeline back (see
    :mod:`streamworks.ops.status.bottleneck`)."""
    missing_topics: tuple[str, ...] = ()
    """Topics it uses that are missing from the cluster: inputs without partitions, and
    what its live workers report (:mod:`streamworks.runtime.topic_watch`)."""


def stage_status(
    *,
    name: str,
    group: str,
    inputs: tuple[str, ...],
    kind: StageKind,
    workers: int,
    partitions: int,
    lag_records: int,
    lag_s: float,
    figures: StageFigures,
    missing_inputs: tuple[str, ...] = (),
) -> StageStatus:
    """A stage's status from its pool, backlog and stats figures.

    The stats records' ``out`` counts inputs (an aggregation's: the ones folded into its
    state); here ``out`` is what the stage wrote, and that input-side figure is
    ``produced`` or ``folded`` by the stage's kind.
    """
    counts = figures.counts
    folds = kind == "aggregation"
    return StageStatus(
        name=name,
        group=group,
        inputs=inputs,
        kind=kind,
        workers=workers,
        partitions=partitions,
        lag_records=lag_records,
        lag_seconds=lag_s if lag_records else 0.0,
        in_per_s=figures.in_per_s,
        out_per_s=figures.out_per_s,
        records_in=counts.records_in,
        out=counts.records_written,
        produced=None if folds else counts.out,
        folded=counts.out if folds else None,
        filtered=counts.filtered,
        dead_lettered=counts.dead_lettered,
        late=counts.late if folds else None,
        missing_topics=tuple(sorted({*missing_inputs, *figures.missing_topics})),
    )


@dataclass(frozen=True)
class PipelineStatus:
    """Every stage of a pipeline at one moment, the bottleneck named."""

    pipeline: str
    """Pipeline name."""
    at: float
    """When it was sampled, epoch seconds."""
    stages: tuple[StageStatus, ...]
    """The stages, producers before consumers."""
    bottleneck: str | None
    """Name of the bottleneck stage, or None when nothing lags."""

    def stage(self, name: str) -> StageStatus:
        """The status of stage ``name``; KeyError when the pipeline has none."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)

    def as_data(self) -> dict[str, Any]:
        """Plain data (dicts, lists, numbers, strings) for JSON."""
        data = asdict(self)
        data["stages"] = [
            {**s, "inputs": list(s["inputs"]), "missing_topics": list(s["missing_topics"])}
            for s in data["stages"]
        ]
        return data
