"""Restoring a task's store from its changelog partition, and keeping standby copies warm.

Restore reads the changelog partition with ``read_committed`` from the store's checkpoint
(or from the start) up to the partition's last stable offset, so records of aborted or
still-open transactions are never applied, and transaction markers (which occupy offsets
but carry no record) do not stall it: progress is judged by the consumer's position, not by
the offset of the last record seen.

A local store that cannot be continued is wiped and rebuilt from the start: its checkpoint
lies below the changelog's first offset (segments were deleted) or beyond its end (the
topic was recreated).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamworks.core.errors import StreamworksError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.state.store import Store

__all__ = ["ChangelogReader", "RestoreError", "Restored"]

logger = logging.getLogger(__name__)

_FETCH_RECORDS = 10_000
_FETCH_WAIT_MS = 20
"""How long the broker may hold a fetch at the partition's end. A restore reads up to an end
it already knows, so a long poll only delays its next request on the same connection (the
broker answers one connection's requests in order): with the default 500 ms, every task
after an empty or aborted-only one waited half a second."""
_POLL_MS = 50
"""How long one poll waits for records; a fetch of only aborted records or markers returns
none but moves the position, which the loop checks after every poll."""


class RestoreError(StreamworksError):
    """A changelog partition stopped advancing before its end; the worker restarts."""

    retriable = True


@dataclass(frozen=True)
class Restored:
    """What one restore did."""

    partition: int
    """The changelog partition (the task)."""
    records: int
    """Changelog records applied."""
    seconds: float
    """How long it took."""
    start: int
    """The offset it replayed from."""
    end: int
    """The last stable offset it replayed to."""
    wiped: str | None
    """Why the local store was wiped first, if it was."""


Progress = Callable[[int, int, int], None]
"""Told ``(partition, offsets done, offsets to do)`` as a restore advances."""


class ChangelogReader:
    """One consumer (no group) that replays changelog partitions into stores."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        timeout_s: float = 120.0,
        progress: Progress | None = None,
    ) -> None:
        self.topic = topic
        self._timeout_s = timeout_s
        self._progress = progress
        self._consumer: AIOKafkaConsumer = clients.consumer(
            settings=settings,
            group_id=None,
            isolation_level="read_committed",
            client_id=f"{settings.client_id}-restore",
            fetch_max_wait_ms=_FETCH_WAIT_MS,
        )
        self._started = False

    async def start(self) -> None:
        """Connect."""
        if not self._started:
            await self._consumer.start()
            self._started = True

    async def stop(self) -> None:
        """Disconnect."""
        if self._started:
            await self._consumer.stop()
            self._started = False

    async def restore(self, partition: int, store: Store) -> Restored:
        """Bring ``store`` up to the committed end of changelog ``partition``."""
        began = time.monotonic()
        tp = TopicPartition(self.topic, partition)
        self._consumer.assign([tp])
        first = (await self._consumer.beginning_offsets([tp]))[tp]
        end = (await self._consumer.end_offsets([tp]))[tp]
        checkpoint = store.checkpoint
        wiped: str | None = None
        if checkpoint is not None and checkpoint < first:
            wiped = f"local state at offset {checkpoint} is below the changelog's start {first}"
        elif checkpoint is not None and checkpoint > end:
            wiped = f"local state at offset {checkpoint} is beyond the changelog's end {end}"
        if wiped is not None:
            logger.warning("%s[%d]: %s; rebuilding it", self.topic, partition, wiped)
            store.wipe()
            checkpoint = None
        start = first if checkpoint is None else checkpoint
        try:
            applied = await self._replay(tp, store, start, end, self._progress)
        finally:
            self._consumer.unsubscribe()  # no background fetches between restores
        restored = Restored(partition, applied, time.monotonic() - began, start, end, wiped)
        logger.info(
            "%s[%d] restored: %d records (offsets %d..%d) in %.2f s",
            self.topic,
            partition,
            applied,
            start,
            end,
            restored.seconds,
        )
        return restored

    async def end_offset(self, partition: int) -> int:
        """The last stable offset of changelog ``partition``."""
        tp = TopicPartition(self.topic, partition)
        return int((await self._consumer.end_offsets([tp]))[tp])

    async def catch_up(self, partition: int, store: Store) -> int:
        """Apply whatever the changelog has beyond ``store``'s checkpoint (standby copies)."""
        tp = TopicPartition(self.topic, partition)
        self._consumer.assign([tp])
        end = (await self._consumer.end_offsets([tp]))[tp]
        checkpoint = store.checkpoint
        first = (await self._consumer.beginning_offsets([tp]))[tp]
        if checkpoint is None or checkpoint < first or checkpoint > end:
            store.wipe()
            checkpoint = first
        try:
            return await self._replay(tp, store, checkpoint, end)
        finally:
            self._consumer.unsubscribe()

    async def _replay(
        self,
        tp: TopicPartition,
        store: Store,
        start: int,
        end: int,
        progress: Progress | None = None,
    ) -> int:
        if progress is not None:
            progress(tp.partition, 0, end - start)
        if start >= end:
            if store.checkpoint != end:
                store.apply([], end)
            return 0
        self._consumer.seek(tp, start)
        applied = 0
        moved_at, last = time.monotonic(), start
        while (position := await self._consumer.position(tp)) < end:
            if position != last:
                moved_at, last = time.monotonic(), position
            elif time.monotonic() - moved_at > self._timeout_s:
                raise RestoreError(
                    f"{tp.topic}[{tp.partition}] stuck at offset {position} of {end} "
                    f"for {self._timeout_s:.0f} s"
                )
            batch = await self._consumer.getmany(
                tp, timeout_ms=_POLL_MS, max_records=_FETCH_RECORDS
            )
            records = batch.get(tp, [])
            if records:
                store.apply([(r.key, r.value) for r in records], records[-1].offset + 1)
                applied += len(records)
                if progress is not None:
                    progress(tp.partition, records[-1].offset + 1 - start, end - start)
        store.apply([], end)
        if progress is not None:
            progress(tp.partition, end - start, end - start)
        return applied
