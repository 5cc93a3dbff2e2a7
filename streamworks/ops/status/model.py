"""A pipeline's status as values: one :class:`StageStatus` per stage, in pipeline order.

These records are what ``streamworks status`` prints and what the autoscaler and the
dashboard read; :meth:`PipelineStatus.as_data` is their JSON shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["PipelineStatus", "StageStatus", "Trend"]

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
    """Inputs that produced output."""
    filtered: int
    """Inputs filtered out."""
    dead_lettered: int
    """Inputs sent to its dead-letter topic."""
    late: int
    """Inputs of an aggregation that arrived after their windows closed."""
    trend: Trend | None = None
    """Lag movement since the previous sample; None on a first sample."""
    bottleneck: bool = False
    """True for the one stage holding the pipeline back (see
    :mod:`streamworks.ops.status.bottleneck`)."""


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
        data["stages"] = [{**s, "inputs": list(s["inputs"])} for s in data["stages"]]
        return data
