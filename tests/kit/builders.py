"""Records for the framework tests: readings at known times, and a steady mixed feed."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.kit.records import Reading

__all__ = ["EPOCH", "EPOCH_MS", "at", "feed", "millis", "reading"]

EPOCH = datetime(2026, 11, 27, tzinfo=UTC)
"""The kit's zero of event time."""
EPOCH_MS = round(EPOCH.timestamp() * 1000)
"""EPOCH in epoch milliseconds."""


def at(ms: int) -> datetime:
    """EPOCH plus ``ms`` milliseconds."""
    return datetime.fromtimestamp((EPOCH_MS + ms) / 1000, UTC)


def millis(moment: datetime) -> int:
    """``moment`` in epoch milliseconds."""
    return round(moment.timestamp() * 1000)


def reading(sensor: str, at_ms: int, value: float = 1.0) -> Reading:
    """A reading of ``sensor`` ``at_ms`` after EPOCH."""
    return Reading(sensor=sensor, value=value, at=at(at_ms))


def feed(count: int, *, start: int = 0) -> list[Reading]:
    """``count`` readings of distinct sensors (``s00000``, ...), 10 ms apart, in tenths.

    The sensor pipeline scales them to 0 .. 119.9: most are OK, some WARN, about one in
    six ALARM, so every output of ``classify`` gets records. None is filtered out.
    """
    return [
        reading(f"s{n:05d}", n * 10, float((n * 7_919) % 1_200))
        for n in range(start, start + count)
    ]
