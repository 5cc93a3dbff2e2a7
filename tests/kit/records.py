"""The kit's record classes; each mirrors one contract in ``tests/kit/contracts``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from streamworks import AvroRecord

__all__ = ["ALL_RECORDS", "Alarm", "Label", "Level", "Reading", "Total", "Vote", "WindowCount"]


class Level(StrEnum):
    """How worrying a reading is (Avro enum ``kit.Level``)."""

    OK = "OK"
    WARN = "WARN"
    ALARM = "ALARM"


@dataclass(frozen=True, slots=True)
class Reading(AvroRecord, contract="kit.readings"):
    """One measurement of one sensor (``kit.readings``)."""

    sensor: str
    """Which sensor measured it; the usual record key."""
    value: float
    """The measured value."""
    at: datetime
    """When it was measured (UTC); the event time of windows."""


@dataclass(frozen=True, slots=True)
class Label(AvroRecord, contract="kit.labels"):
    """What is known about a sensor, or a stage's conclusion about a reading (``kit.labels``)."""

    sensor: str
    """The sensor; also the record key."""
    level: Level = Level.OK
    """How worrying."""
    note: str | None = None
    """Free text, e.g. where the sensor is."""


@dataclass(frozen=True, slots=True)
class Alarm(AvroRecord, contract="kit.alarms"):
    """A reading that broke a limit, with every limit it broke (``kit.alarms``)."""

    reading: Reading
    """The reading as the stage received it."""
    level: Level
    """How bad it is."""
    reasons: tuple[str, ...]
    """One line per broken limit."""


@dataclass(frozen=True, slots=True)
class Total(AvroRecord, contract="kit.totals"):
    """A running count and sum of one key's values (``kit.totals``)."""

    key: str
    """The key the values were grouped by; also the record key."""
    count: int
    """How many values so far."""
    sum: float
    """Their sum."""


@dataclass(frozen=True, slots=True)
class WindowCount(AvroRecord, contract="kit.window_counts"):
    """How many records one key had in one window (``kit.window_counts``)."""

    key: str
    """The counted key; also the record key."""
    start: datetime
    """Inclusive start of the window (UTC)."""
    end: datetime
    """Exclusive end of the window (UTC)."""
    count: int
    """Records of the key in the window."""


@dataclass(frozen=True, slots=True)
class Vote(AvroRecord, contract="kit.votes"):
    """One voter's answer about one subject (``kit.votes``)."""

    subject: str
    """What was voted on; the correlation id and the record key."""
    voter: str
    """Who answered."""
    yes: bool
    """The answer."""


ALL_RECORDS: tuple[type[AvroRecord], ...] = (Reading, Label, Alarm, Total, WindowCount, Vote)
"""Every record class, one per contract."""
