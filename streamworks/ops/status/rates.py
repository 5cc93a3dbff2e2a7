"""Per-stage totals and rates from the workers' stats records (pure, no Kafka).

Rates come from the stats records' own timestamps, not from the reader's clock: each
worker stamps its cumulative counts with ``at`` when it publishes (every ~2 s), so the
difference of its last two records over the difference of their ``at`` is exact for that
window, whenever the topic is read. The compacted stats topic keeps its head (the active
segment) uncompacted, so one read usually finds the last two records of every live worker
and a single ``streamworks status`` shows rates without waiting. A worker that stopped, or
whose last record is older than ``stale_after`` seconds, counts 0/s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamworks.runtime.processor import Counts

__all__ = ["StageFigures", "WorkerHistory", "WorkerSample", "stage_figures"]

STALE_AFTER_S = 10.0
"""Default age after which a worker's last record no longer counts towards rates."""


@dataclass(frozen=True)
class WorkerSample:
    """One stats record of one worker."""

    pipeline: str
    """Pipeline it belongs to."""
    stage: str
    """Stage it runs."""
    at: float
    """When the worker took its counts, epoch seconds."""
    counts: Counts
    """Its cumulative counts then."""
    stopped: bool = False
    """True on the last record of a worker that stopped cleanly."""
    missing_topics: tuple[str, ...] = ()
    """Topics of its stage it found missing from the cluster then."""

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> WorkerSample | None:
        """The sample in a stats record's JSON value; None for a record of another shape."""
        try:
            counts = Counts(**value["counts"])
            return cls(
                pipeline=str(value["pipeline"]),
                stage=str(value["stage"]),
                at=float(value["at"]),
                counts=counts,
                stopped=bool(value.get("stopped", False)),
                missing_topics=tuple(str(t) for t in value.get("missing_topics") or ()),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class WorkerHistory:
    """The last two samples of every worker, keyed as in the stats topic."""

    last: dict[bytes, WorkerSample] = field(default_factory=dict)
    """Each worker's latest sample."""
    before: dict[bytes, WorkerSample] = field(default_factory=dict)
    """Each worker's sample before that, when seen."""

    def add(self, key: bytes, sample: WorkerSample) -> None:
        """Record ``sample`` as the worker's latest."""
        if key in self.last:
            self.before[key] = self.last[key]
        self.last[key] = sample


@dataclass(frozen=True)
class StageFigures:
    """A stage's totals over all its workers ever, and its rates over its live ones."""

    counts: Counts
    """Summed latest counts."""
    in_per_s: float = 0.0
    """Input records per second."""
    out_per_s: float = 0.0
    """Records written per second."""
    missing_topics: tuple[str, ...] = ()
    """Topics its live workers find missing from the cluster, sorted."""


def _rate(
    before: WorkerSample | None, last: WorkerSample, now: float, stale_after: float
) -> tuple[float, float]:
    """(in, written) per second of one worker; zero when unknown, stopped or stale."""
    if before is None or last.stopped or now - last.at > stale_after or last.at <= before.at:
        return 0.0, 0.0
    span = last.at - before.at
    records_in = last.counts.records_in - before.counts.records_in
    written = last.counts.records_written - before.counts.records_written
    return max(0.0, records_in / span), max(0.0, written / span)


def stage_figures(
    history: WorkerHistory,
    pipeline: str,
    stages: Iterable[str],
    *,
    now: float,
    stale_after: float = STALE_AFTER_S,
) -> dict[str, StageFigures]:
    """Totals and rates of every named stage of ``pipeline`` (zeros for silent stages)."""
    totals = {stage: Counts() for stage in stages}
    rates = dict.fromkeys(totals, (0.0, 0.0))
    missing: dict[str, set[str]] = {stage: set() for stage in totals}
    for key, last in history.last.items():
        if last.pipeline != pipeline or last.stage not in totals:
            continue
        totals[last.stage].add(last.counts)
        if not last.stopped and now - last.at <= stale_after:
            missing[last.stage].update(last.missing_topics)
        records_in, written = _rate(history.before.get(key), last, now, stale_after)
        summed = rates[last.stage]
        rates[last.stage] = (summed[0] + records_in, summed[1] + written)
    return {
        stage: StageFigures(
            totals[stage],
            in_per_s=rates[stage][0],
            out_per_s=rates[stage][1],
            missing_topics=tuple(sorted(missing[stage])),
        )
        for stage in totals
    }
