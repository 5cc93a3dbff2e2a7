"""What sources hand to the runtime and what sinks receive from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamworks.core.messages import Headers

__all__ = ["Position", "SinkRecord", "SourceRecord"]

Position = dict[str, Any]
"""How far a source got in one of its partitions, as JSON data (``{"offset": 1024}``)."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record a source wants in a topic: a JSON-like value, converted by the runtime."""

    topic: str
    """Destination topic; its registered ``<topic>-value`` schema is the record's contract."""
    value: dict[str, Any]
    """The record as Avro-ready data (strings for numbers are coerced where the schema says)."""
    key: str | None = None
    """Key text; None takes the schema's key field if the source names one, else no key."""
    headers: Headers = field(default=())
    """Extra Kafka headers (the runtime adds the source's name and position)."""
    location: str = ""
    """Where it came from, for dead letters and logs: ``inbox/a.csv line 12``."""
    text: bool = False
    """Every value is text (a CSV row): numbers, booleans and times are parsed from it."""


@dataclass(frozen=True, slots=True)
class SinkRecord:
    """One decoded record a sink is asked to write."""

    topic: str
    """Topic it was read from."""
    partition: int
    """Partition it was read from."""
    offset: int
    """Its offset there."""
    key: str | None
    """The key as text (UTF-8), or None."""
    value: dict[str, Any] | None
    """The decoded Avro value; None for a tombstone (delete by key, where the sink can)."""
    timestamp_ms: int
    """The record's Kafka timestamp."""
    headers: Headers = field(default=())
    """Kafka headers."""
