"""Deciding a stage's pool size from its lag: the supervisor's elastic worker pools.

A pool grows by one worker when the stage is behind (its oldest unprocessed record is
older than ``behind_s``) and not catching up (over three or more samples its lag did not
fall by a fifth), and shrinks by one when it has had no lag for ``idle_s``. After any
change the stage is left alone for ``cooldown_s``, so a new worker has time to join the
group and show its effect. A pool never leaves its bounds, and never has more workers
than its input has partitions (a consumer group gives the extra ones nothing to do).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from streamworks.core.errors import ConfigurationError
from streamworks.core.settings import Settings
from streamworks.ops.status import collect_status
from streamworks.ops.supervisor import Supervisor
from streamworks.pipeline.graph import Pipeline

__all__ = ["Autoscaler", "Bounds", "PoolScaler", "Sample", "parse_autoscale"]


@dataclass(frozen=True)
class Bounds:
    """The smallest and largest pool of one stage."""

    low: int
    """Never fewer workers than this (at least 1)."""
    high: int
    """Never more workers than this (nor than the stage's input partitions)."""


@dataclass(frozen=True)
class Sample:
    """One look at a stage."""

    at: float
    """When (monotonic seconds)."""
    lag: int
    """Records behind, over all its input partitions."""
    lag_s: float
    """Age of its oldest unprocessed record in seconds (0 when caught up)."""


def parse_autoscale(text: str, stages: Sequence[str]) -> dict[str, Bounds]:
    """``validate=1:4,enrich=2:3`` -> bounds per named stage."""
    found: dict[str, Bounds] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, span = part.partition("=")
        low, _, high = span.partition(":")
        if name not in stages or not (low.isdigit() and high.isdigit()):
            raise ConfigurationError(
                f"--autoscale wants stage=min:max pairs for stages {', '.join(stages)}, "
                f"not {part!r}"
            )
        if not 1 <= int(low) <= int(high):
            raise ConfigurationError(f"--autoscale {part}: want 1 <= min <= max")
        found[name] = Bounds(int(low), int(high))
    return found


@dataclass
class _Stage:
    bounds: Bounds
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=6))
    changed_at: float = float("-inf")
    idle_since: float | None = None


class Autoscaler:
    """Remembers recent samples per stage and proposes each pool's next size."""

    def __init__(
        self,
        bounds: dict[str, Bounds],
        partitions: dict[str, int],
        *,
        behind_s: float = 3.0,
        idle_s: float = 20.0,
        cooldown_s: float = 10.0,
    ) -> None:
        self._stages = {
            name: _Stage(Bounds(b.low, max(b.low, min(b.high, partitions.get(name, b.high)))))
            for name, b in bounds.items()
        }
        self._behind_s = behind_s
        self._idle_s = idle_s
        self._cooldown_s = cooldown_s

    @property
    def stages(self) -> list[str]:
        """The stages this autoscaler sizes."""
        return list(self._stages)

    def bounds(self, stage: str) -> Bounds:
        """A stage's bounds, capped at its input partitions."""
        return self._stages[stage].bounds

    def decide(self, stage: str, current: int, sample: Sample) -> int:
        """The pool size ``stage`` should have now, given its newest ``sample``."""
        state = self._stages[stage]
        state.samples.append(sample)
        low, high = state.bounds.low, state.bounds.high
        if current < low or current > high:
            return self._change(state, min(max(current, low), high), sample.at)
        if sample.lag == 0:
            state.idle_since = sample.at if state.idle_since is None else state.idle_since
        else:
            state.idle_since = None
        if sample.at - state.changed_at < self._cooldown_s:
            return current
        if sample.lag_s >= self._behind_s and _falling_behind(state.samples) and current < high:
            return self._change(state, current + 1, sample.at)
        idle = state.idle_since is not None and sample.at - state.idle_since >= self._idle_s
        if idle and current > low:
            state.idle_since = sample.at  # one step down per idle period
            return self._change(state, current - 1, sample.at)
        return current

    @staticmethod
    def _change(state: _Stage, size: int, at: float) -> int:
        state.changed_at = at
        state.samples.clear()
        return size


def _falling_behind(samples: Sequence[Sample]) -> bool:
    """True when three or more samples show the lag not falling by a fifth across them."""
    if len(samples) < 3:  # noqa: PLR2004 - too few to see a trend
        return False
    return samples[-1].lag > samples[0].lag * 0.8


class PoolScaler:
    """Samples a running pipeline and resizes the supervisor's pools (``run --autoscale``)."""

    def __init__(
        self, pipeline: Pipeline, settings: Settings, supervisor: Supervisor, scaler: Autoscaler
    ) -> None:
        self._pipeline = pipeline
        self._settings = settings
        self._supervisor = supervisor
        self._scaler = scaler

    async def step(self) -> list[str]:
        """Look once; resize what needs it. Returns one line per change, for the console."""
        status = await collect_status(self._pipeline, self._settings)
        now = time.monotonic()
        changes = []
        for name in self._scaler.stages:
            stage = status.stage(name)
            current = self._supervisor.pools[name]
            size = self._scaler.decide(
                name, current, Sample(now, stage.lag_records, stage.lag_seconds)
            )
            if size != current:
                self._supervisor.scale(name, size)
                changes.append(
                    f"{name}: {current} -> {size} workers (lag {stage.lag_records:,} records, "
                    f"{stage.lag_seconds:.1f} s)"
                )
        return changes
