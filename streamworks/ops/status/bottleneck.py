"""Which stage holds the pipeline back: pure functions over two samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from streamworks.ops.status.model import StageStatus, Trend

__all__ = ["find_bottleneck", "mark", "trend"]


def trend(now: int, before: int | None) -> Trend | None:
    """How a lag of ``now`` records moved from ``before`` (None: no earlier sample)."""
    if before is None:
        return None
    if now > before:
        return "growing"
    return "shrinking" if now < before else "steady"


def find_bottleneck(stages: Sequence[StageStatus]) -> str | None:
    """The stage whose lag grows, else any lagging one, with the oldest unconsumed record.

    A growing lag means the stage is slower than its input right now, which says more than
    an old backlog that is draining; among equals the oldest record (then the most
    records) decides. None when no stage lags.
    """
    lagging = [s for s in stages if s.lag_records > 0]
    growing = [s for s in lagging if s.trend == "growing"]
    candidates = growing or lagging
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.lag_seconds, s.lag_records)).name


def mark(
    stages: Sequence[StageStatus], previous_lag: Mapping[str, int] | None = None
) -> tuple[tuple[StageStatus, ...], str | None]:
    """The stages with their trends (against ``previous_lag``) and the bottleneck flagged."""
    before = previous_lag or {}
    trended = [
        replace(s, trend=trend(s.lag_records, before.get(s.name)) if previous_lag else None)
        for s in stages
    ]
    name = find_bottleneck(trended)
    return tuple(replace(s, bottleneck=s.name == name) for s in trended), name
