"""At-least-once writes: one shared producer, and input offsets committed only when settled.

An offset is *settled* once the outputs of its record and of every earlier record of its
partition are acknowledged. Settled offsets are committed at most every ``interval_s`` (and
always before a rebalance or stop): committing each small batch would cost a round trip per
batch, and a crash re-reads at most one interval's records.

A stage worker does not wait on the broker between batches. It hands a batch's outputs to the
producer and goes on to the next (:meth:`AtLeastOnce.handed`); up to ``_IN_FLIGHT`` batches
are on the wire at once, and a batch settles when its acknowledgements are in. A due commit
runs beside the next batches, one at a time; before a rebalance or stop, everything in flight
settles and commits first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from streamworks.core.messages import OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.rdkafka import RdSender
from streamworks.kafka.sending import BatchSender, acknowledged
from streamworks.runtime.membership import GroupMember
from streamworks.runtime.metrics import StageMetrics
from streamworks.runtime.processor import Counts

__all__ = ["AtLeastOnce"]


_IN_FLIGHT = 4
"""Batches a worker may have on the wire before it waits for the oldest's acknowledgements.

Waiting for each batch before fetching the next made every cycle at a moderate rate last a
producer linger and a round trip, and records fetched meanwhile waited for it."""


class AtLeastOnce:
    """The at-least-once writes and commits of one worker of ``member``'s group.

    ``done`` is told the counts of records whose offsets are committed.
    """

    def __init__(
        self,
        settings: Settings,
        member: GroupMember,
        metrics: StageMetrics,
        done: Callable[[Counts], None],
        *,
        interval_s: float = 0.2,
        rdkafka: bool = False,
    ) -> None:
        self._settings = settings
        self._member = member
        self._metrics = metrics
        self._done = done
        self._interval_s = interval_s
        self._rdkafka = rdkafka
        self._producer: AIOKafkaProducer | None = None
        self._sender: BatchSender | RdSender | None = None
        self._inflight: deque[tuple[list[asyncio.Future[Any]], dict[TopicPartition, int], Counts]]
        self._inflight = deque()
        self._settled: dict[TopicPartition, int] = {}
        self._settled_counts = Counts()
        self._last_commit = time.monotonic()
        self._committing: asyncio.Task[None] | None = None
        """The commit running beside the batches, if one is."""

    async def start(self) -> None:
        """Start the shared producer (librdkafka's when ``rdkafka``, else aiokafka's)."""
        client_id = f"{self._member.group_id}-out"
        if self._rdkafka:
            self._sender = RdSender(self._settings, client_id=client_id)
            return
        self._producer = clients.producer(self._settings, client_id=client_id)
        await self._producer.start()
        self._sender = BatchSender(self._producer)

    async def stop(self) -> None:
        """Stop the shared producer (settle first: what it still holds is not committed)."""
        if self._committing is not None:  # a worker that failed: its last commit ends first
            with contextlib.suppress(Exception):
                await self._committing
            self._committing = None
        if isinstance(self._sender, RdSender):
            await self._sender.close()
        if self._producer is not None:
            await self._producer.stop()

    async def send(self, records: list[OutRecord]) -> list[asyncio.Future[Any]]:
        """Hand ``records`` to the producer; the futures resolve as they are acknowledged."""
        assert self._sender is not None  # noqa: S101 - started before the first batch
        return await self._sender.send(records)

    async def write(self, records: list[OutRecord]) -> None:
        """Send ``records`` and wait until all are acknowledged."""
        await acknowledged(await self.send(records))

    async def handed(
        self,
        futures: list[asyncio.Future[Any]],
        offsets: dict[TopicPartition, int],
        counts: Counts,
    ) -> None:
        """A batch's outputs are on the wire: its ``offsets`` settle (and its ``counts``
        count) once ``futures`` are acknowledged. Waits only when too many are in flight."""
        self._inflight.append((futures, offsets, counts))
        while self._inflight and all(f.done() for f in self._inflight[0][0]):
            await self._settle_oldest()  # acknowledged already: does not wait
        while len(self._inflight) > _IN_FLIGHT:
            await self._settle_oldest()
        self._commit_when_due()

    def settled(self, offsets: dict[TopicPartition, int]) -> None:
        """``offsets`` whose outputs are already acknowledged: commit them with the next."""
        self._settled.update(offsets)

    async def settle(self, *, commit_now: bool = False) -> None:
        """Wait for the batches in flight; commit what is settled when due (``commit_now``:
        now, and return once it is committed)."""
        while self._inflight:
            await self._settle_oldest()
        if not commit_now:
            self._commit_when_due()
            return
        if self._committing is not None:
            committing, self._committing = self._committing, None
            await committing
        await self._commit()

    async def _settle_oldest(self) -> None:
        futures, offsets, counts = self._inflight.popleft()
        await acknowledged(futures)
        self._settled.update(offsets)
        self._settled_counts.add(counts)

    def _commit_when_due(self) -> None:
        """Start committing what is settled, beside the batches, when the interval is up."""
        if self._committing is not None:
            if not self._committing.done():
                return
            committing, self._committing = self._committing, None
            committing.result()  # a commit that failed stops the worker here
        if self._settled and time.monotonic() - self._last_commit >= self._interval_s:
            self._committing = asyncio.create_task(self._commit())

    async def _commit(self) -> None:
        if not self._settled:
            return
        offsets, self._settled = self._settled, {}
        counts, self._settled_counts = self._settled_counts, Counts()
        self._last_commit = time.monotonic()
        began = time.perf_counter()
        if await self._member.commit(offsets):
            self._metrics.committed(time.perf_counter() - began)
            self._done(counts)
