"""Global tables: the latest record per key of a compacted topic, on every worker.

A stage that joins a stream with a table (the flagship ``enrich`` joins orders with
``customers``) declares the table on the stage; each worker of the stage then reads the
whole topic before it processes its first record, and keeps following it. Because every
worker holds every key, the stream need not be partitioned like the table.

What happens when a key is missing is declared with the table: use a default value, raise
a retriable error (the stage's retry policy waits and retries, for a table that is still
catching up, then dead-letters), or dead-letter the record at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from streamworks.core.errors import RetriableStageError, StageError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.errors import DecodeError
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.typed import Format, TypedCodec, codec_for

__all__ = ["GlobalTable", "MissingKeyError", "OnMissing"]

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=AvroRecord)


class OnMissing(StrEnum):
    """What a join does when the table has no record for the key."""

    DEFAULT = "default"
    """Join with the table's default (which may be None)."""
    RETRY = "retry"
    """Raise a retriable error: retried with backoff, then dead-lettered."""
    DEAD_LETTER = "dead-letter"
    """Raise at once: the record is dead-lettered."""


class MissingKeyError(StageError):
    """A join found no record for its key and the table's policy says not to go on."""


class RetriableMissingKeyError(MissingKeyError, RetriableStageError):
    """A join found no record for its key yet; the table may still be catching up."""


@dataclass
class GlobalTable(Generic[R]):
    """The latest ``record_type`` record per key of ``topic`` (a compacted topic)."""

    topic: str
    """The compacted topic the table follows; its keys are the table's keys."""
    record_type: type[R]
    """The record type of the topic's values."""
    on_missing: OnMissing = OnMissing.DEFAULT
    """What :meth:`join` does for an unknown key."""
    default: R | None = None
    """The value :meth:`join` returns for an unknown key under ``OnMissing.DEFAULT``."""
    rows: dict[str, R] = field(default_factory=dict, repr=False)
    """The table's contents."""
    bad_records: int = 0
    """Records of the topic that could not be decoded (logged with their offsets, skipped)."""
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _ready: asyncio.Event | None = field(default=None, repr=False)

    def get(self, key: str) -> R | None:
        """The record of ``key``, or None."""
        return self.rows.get(key)

    def join(self, key: str) -> R | None:
        """The record of ``key``; for a missing key, follow ``on_missing``."""
        row = self.rows.get(key)
        if row is not None:
            return row
        if self.on_missing is OnMissing.RETRY:
            raise RetriableMissingKeyError(f"{self.topic} has no record for key {key!r} yet")
        if self.on_missing is OnMissing.DEAD_LETTER:
            raise MissingKeyError(f"{self.topic} has no record for key {key!r}")
        return self.default

    def apply(self, key: bytes | None, value: bytes | None, codec: TypedCodec[R]) -> None:
        """Apply one record of the topic: a value replaces the key's row, None deletes it."""
        if key is None:
            return
        name = key.decode(errors="replace")
        if value is None:
            self.rows.pop(name, None)
            return
        self.rows[name] = codec.decode(value, topic=self.topic)

    # -- following the topic on Kafka -------------------------------------------------------

    async def start(
        self,
        settings: Settings,
        codec: AvroCodec,
        *,
        format: Format = "avro",
        timeout_s: float = 60.0,
    ) -> None:
        """Read the topic to its end, then keep following it in the background.

        ``format`` is the topic's (its ``TopicSpec``'s): the table reads JSON values as
        JSON, with no registry.
        """
        if self._task is not None:
            return
        self._ready = asyncio.Event()
        typed = codec_for(self.record_type, codec, format=format, register=False)
        self._task = asyncio.create_task(self._follow(settings, typed), name=f"table {self.topic}")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=timeout_s, return_when="FIRST_COMPLETED"
        )
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises why it stopped
        if ready not in done:
            ready.cancel()
            await self.stop()
            raise TimeoutError(f"table {self.topic} did not load within {timeout_s:.0f} s")

    async def stop(self) -> None:
        """Stop following the topic."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, settings: Settings, typed: TypedCodec[R]) -> None:
        consumer = clients.consumer(
            self.topic, settings=settings, group_id=None, isolation_level="read_committed"
        )
        await consumer.start()  # without a group it is assigned every partition, from the start
        try:
            tps = sorted(consumer.assignment())
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5_000)
                for records in batches.values():
                    for r in records:
                        self._apply_logged(r, typed)
                if self._ready is not None and not self._ready.is_set():
                    positions = [await consumer.position(tp) for tp in tps]
                    if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                        logger.info("table %s loaded: %d rows", self.topic, len(self.rows))
                        self._ready.set()
        finally:
            await consumer.stop()

    def _apply_logged(self, record: Any, typed: TypedCodec[R]) -> None:
        try:
            self.apply(record.key, record.value, typed)
        except DecodeError as error:
            self.bad_records += 1
            logger.warning(
                "table %s: skipped undecodable record at %d@%d: %s",
                self.topic,
                record.partition,
                record.offset,
                error,
            )
