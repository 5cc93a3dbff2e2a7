"""The values that move through the runtime: messages read, records written, dead letters."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Headers", "InMessage", "OutRecord"]

Headers = tuple[tuple[str, bytes], ...]


@dataclass(slots=True)
class InMessage:
    """One record as read from an input topic, before decoding.

    Treat it as immutable. It is not declared frozen because a frozen dataclass builds
    each instance through ``object.__setattr__`` per field, three times the cost of this
    one, and a worker makes one per record (as for :class:`OutRecord`).
    """

    topic: str
    """Topic it was read from."""
    partition: int
    """Partition it was read from."""
    offset: int
    """Its offset in that partition."""
    key: bytes | None
    """Raw key bytes."""
    value: bytes | None
    """Raw value bytes (Confluent-framed Avro)."""
    timestamp_ms: int = 0
    """The record's Kafka timestamp."""
    headers: Headers = ()
    """Kafka headers."""


@dataclass(slots=True)
class OutRecord:
    """One record to write: an output, or a dead letter. Treat it as immutable (see
    :class:`InMessage`)."""

    topic: str
    """Destination topic."""
    key: bytes | None
    """Key bytes; the default partitioner hashes them, so equal keys share a partition."""
    value: bytes | None
    """Value bytes."""
    headers: Headers = field(default=())
    """Kafka headers (lineage, or the dead letter's error description)."""
    partition: int | None = None
    """An explicit partition (a state changelog's is its task's); None hashes the key."""
