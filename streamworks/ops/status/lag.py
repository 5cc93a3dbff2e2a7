"""Backlog arithmetic (pure): what a group has not consumed yet, and how old it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import TopicPartition

__all__ = ["Backlog", "backlog", "lag_seconds"]


@dataclass(frozen=True)
class Backlog:
    """One input partition of a stage, seen by its group."""

    start: int
    """First offset the group has not consumed: its committed offset, or the partition's
    beginning when it never committed (or committed before what retention kept)."""
    end: int
    """End offset (the next offset to be written; the last stable one under read_committed)."""

    @property
    def lag(self) -> int:
        """Records not yet consumed (transaction markers count: Kafka gives offsets only)."""
        return max(0, self.end - self.start)


def backlog(
    committed: Mapping[TopicPartition, int],
    beginning: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
) -> dict[TopicPartition, Backlog]:
    """Per partition of ``end``: where the group stands (missing or -1 = never committed)."""
    found = {}
    for tp, last in end.items():
        first = beginning.get(tp, 0)
        offset = committed.get(tp, -1)
        found[tp] = Backlog(start=max(offset, first), end=last)
    return found


def lag_seconds(now_ms: int, oldest_timestamps: Iterable[int]) -> float:
    """Age in seconds of the oldest of the records at the groups' positions; 0 for none."""
    ages = [max(0, now_ms - ts) for ts in oldest_timestamps]
    return max(ages, default=0) / 1000
