"""An in-memory source runtime for unit tests of sources (no Kafka, no registry)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from streamworks.connectors.base import Position, Sent, SourceRecord
from streamworks.connectors.base.convert import TopicConverter
from streamworks.core.messages import OutRecord

__all__ = ["MemoryContext"]


class MemoryContext:
    """Keeps what a source sends, produces and dead-letters; stores positions like the runtime.

    ``converter`` converts for real (give it a TopicConverter over a fake registry); without
    one, ``convert`` is not available. ``stop_after`` sets ``stopping`` after that many sends.
    """

    def __init__(
        self,
        name: str = "memory",
        *,
        converter: TopicConverter | None = None,
        positions: dict[str, Position] | None = None,
        stop_after: int = 0,
    ) -> None:
        self._name = name
        self._converter = converter
        self._stopping = asyncio.Event()
        self._stop_after = stop_after
        self.positions: dict[str, Position] = dict(positions or {})
        self.sends: list[tuple[list[SourceRecord], str | None, Position | None]] = []
        self.produced: list[OutRecord] = []
        self.dead: list[tuple[SourceRecord, BaseException]] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def stopping(self) -> asyncio.Event:
        return self._stopping

    @property
    def records(self) -> list[SourceRecord]:
        """Every record sent, in order."""
        return [r for records, _, _ in self.sends for r in records]

    def position(self, partition: str) -> Position | None:
        found = self.positions.get(partition)
        return dict(found) if found is not None else None

    async def convert(self, record: SourceRecord) -> OutRecord:
        if self._converter is None:
            raise NotImplementedError("this MemoryContext has no converter")
        return await self._converter.convert(record)

    async def produce(
        self,
        records: Sequence[OutRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
    ) -> None:
        self.produced.extend(records)
        self._store(partition, position)

    async def dead_letter(self, record: SourceRecord, error: BaseException) -> None:
        self.dead.append((record, error))

    async def send(
        self,
        records: Sequence[SourceRecord],
        *,
        partition: str | None = None,
        position: Position | None = None,
        failed: Sequence[tuple[SourceRecord, BaseException]] = (),
    ) -> Sent:
        self.sends.append((list(records), partition, position))
        self.dead.extend(failed)
        self._store(partition, position)
        if self._stop_after and len(self.sends) >= self._stop_after:
            self._stopping.set()
        return Sent(produced=len(records), dead_lettered=len(failed))

    def _store(self, partition: str | None, position: Position | None) -> None:
        if partition is not None and position is not None:
            self.positions[partition] = dict(position)
