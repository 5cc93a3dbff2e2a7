"""The source contract: read an outside system, hand records to the runtime, say how far.

A source implements one method, :meth:`Source.run`. The runtime gives it a
:class:`SourceContext` that converts records to their topic's Avro schema, produces them with
acks=all, dead-letters those that cannot be converted, and stores the source's position in
the compacted positions topic, in the same Kafka transaction as the records under
exactly-once. A restarted source asks :meth:`SourceContext.position` where to resume.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from streamworks.connectors.base.records import Position, SourceRecord
from streamworks.core.messages import OutRecord

__all__ = ["Sent", "Source", "SourceContext"]


@dataclass(frozen=True, slots=True)
class Sent:
    """What became of a call to :meth:`SourceContext.send`."""

    produced: int
    """Records now acknowledged in their topics."""
    dead_lettered: int
    """Records that could not be converted; they are in the connector's dead-letter topic."""
    reasons: tuple[str, ...] = field(default=())
    """One line per dead letter: where the record came from and why it failed."""


class SourceContext(Protocol):
    """What the runtime offers a running source."""

    @property
    def name(self) -> str:
        """The connector's name (positions and dead letters are keyed by it)."""
        ...

    @property
    def stopping(self) -> asyncio.Event:
        """Set when the worker drains (SIGTERM): finish the current step and return."""
        ...

    def position(self, partition: str) -> Position | None:
        """The last stored position of a source partition (a file, a shard), or None."""
        ...

    async def convert(self, record: SourceRecord) -> OutRecord:
        """``record`` as framed Avro for its topic; raises ConversionError naming the field."""
        ...

    async def produce(
        self,
        records: Sequence[OutRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
    ) -> None:
        """Produce converted records and store ``position`` for ``partition``, durably.

        Returns once every record is acknowledged by all in-sync replicas (and, under
        exactly-once, the transaction holding records and position is committed).
        """
        ...

    async def dead_letter(self, record: SourceRecord, error: BaseException) -> None:
        """Write a record that cannot be converted to the connector's dead-letter topic."""
        ...

    async def send(
        self,
        records: Sequence[SourceRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
        failed: Sequence[tuple[SourceRecord, BaseException]] = (),
    ) -> Sent:
        """Convert, dead-letter what fails, produce the rest and store the position.

        ``failed`` are records the source already knows are bad (a line that does not
        parse); they are dead-lettered in the same step, so under exactly-once a restart
        can neither lose nor repeat them.
        """
        ...


class Source(ABC):
    """Reads an outside system into topics. Subclasses implement :meth:`run` only."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    async def run(self, context: SourceContext) -> None:
        """Produce through ``context`` until it is exhausted or ``context.stopping`` is set."""
