"""The sink contract: write batches of decoded records to an outside system.

A sink implements :meth:`Sink.write` and :meth:`Sink.flush`. The runtime reads the
connector's topics as a consumer group, decodes each batch and calls ``write`` then
``flush``; it commits the batch's offsets only after both returned. A sink raises

- :class:`~streamworks.connectors.base.errors.TransientError` when the target is unavailable: the
  same batch is retried with backoff, nothing is committed meanwhile;
- :class:`~streamworks.connectors.base.errors.RejectedError` when the target refuses records for
  good: they go to the connector's dead-letter topic and the batch counts as done.

Because a crash between ``flush`` and the offset commit redelivers the batch, a sink that
wants exactly-once results writes idempotently (an upsert by key).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

from streamworks.connectors.base.records import SinkRecord

__all__ = ["Sink", "SinkContext"]


class SinkContext(Protocol):
    """What the runtime offers a sink when it starts."""

    @property
    def name(self) -> str:
        """The connector's name."""
        ...

    def value_schema(self, topic: str) -> dict[str, Any]:
        """The latest Avro schema registered for ``topic``'s values, as JSON data."""
        ...


class Sink(ABC):
    """Writes topics to an outside system. Subclasses implement ``write`` and ``flush``."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def start(self, context: SinkContext) -> None:  # noqa: B027 - optional hook
        """Prepare the target (connect, create the table); called once before any write."""

    @abstractmethod
    async def write(self, batch: Sequence[SinkRecord]) -> None:
        """Write ``batch`` (it may be buffered until :meth:`flush`)."""

    @abstractmethod
    async def flush(self) -> None:
        """Make everything written so far durable in the target."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once after the last flush."""
