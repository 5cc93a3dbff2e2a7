"""A worker's place in its stage's consumer group: the partitions it owns and their records.

Both kinds of worker (a stage's, an aggregation's) are members of a consumer group. What a
member does is the same for both, and lives here:

* it fetches batches that move the partitions forward in step, by timestamp;
* it processes a partition's records only once the worker has set the partition up (under
  exactly-once: its producer has fenced the previous owner), and only from the offset that
  was committed when that happened;
* around a rebalance it lets the worker settle the batch in flight first, so no partition is
  revoked mid-batch; batches and rebalances take turns on one lock.

What a worker does with the partitions it is given, and how it lets them go, is its own
(:class:`Owner`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from operator import attrgetter
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from streamworks.core.messages import InMessage
from streamworks.kafka.errors import StableOffsetsUnsupportedError
from streamworks.kafka.rdkafka import RdConsumer
from streamworks.runtime.crashloop import CrashGuard
from streamworks.runtime.metrics import StageMetrics

__all__ = ["Batches", "CommittedReader", "GroupMember", "Owner", "to_messages"]

logger = logging.getLogger(__name__)

Batches = dict[TopicPartition, list[InMessage]]
"""The records of one batch, by partition, each partition's in offset order."""

CommittedReader = Callable[[set[TopicPartition]], Awaitable[dict[TopicPartition, int | None]]]
"""Reads the group's committed offsets of some partitions once no transaction's are pending
(:func:`streamworks.kafka.offsets.stable_committed` with the worker's settings and group)."""

_LAG_INTERVAL_S = 1.0
_TIMESTAMP = attrgetter("timestamp_ms")


class Owner(Protocol):
    """What a worker does when the group gives it partitions or takes them away."""

    async def take(self, assigned: set[TopicPartition]) -> None:
        """Set up ``assigned`` (the whole new assignment) before any of its records is read."""

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Settle what is in flight and let ``revoked`` go (already out of the assignment)."""

    def ready(self, tp: TopicPartition) -> bool:
        """True when ``tp``, which this member owns, is set up for processing."""


class GroupMember:
    """One member of a consumer group, reading its partitions for one worker.

    ``consumer`` is the worker's (not yet started) consumer; the member subscribes it.
    Under exactly-once, ``stable_committed`` reads where a partition it is given starts.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer | RdConsumer,
        group_id: str,
        metrics: StageMetrics,
        *,
        max_batch: int = 500,
        poll_timeout_ms: int = 200,
        stable_committed: CommittedReader | None = None,
        guard: CrashGuard | None = None,
    ) -> None:
        self.consumer = consumer
        self.guard = guard
        """The worker's side of the crash-loop quarantine, if it has one."""
        self.group_id = group_id
        self.assignment: set[TopicPartition] = set()
        """The partitions this worker owns and has set up."""
        self.lock = asyncio.Lock()
        """Held while a batch is processed and while the assignment changes."""
        self._metrics = metrics
        self._max_batch = max_batch
        self._poll_timeout_ms = poll_timeout_ms
        self._owner: Owner | None = None
        self._waiting: dict[TopicPartition, deque[Any]] = {}
        self._next: dict[TopicPartition, int] = {}
        """Per owned partition, the next offset to process (see :meth:`_rewind`)."""
        self._lag_at = 0.0
        self._stable_committed = stable_committed

    async def start(self, topics: list[str], owner: Owner) -> None:
        """Join the group on ``topics``; ``owner`` is told of every change of assignment."""
        self._owner = owner
        self.consumer.subscribe(topics, listener=_Rebalance(self._assigned, self._revoked))
        await self.consumer.start()

    async def stop(self) -> None:
        """Leave the group: the partitions move to the other members at once."""
        await self.consumer.stop()

    async def run(
        self,
        handle: Callable[[Batches], Awaitable[None]],
        idle: Callable[[], Awaitable[None]],
        stopping: asyncio.Event,
        settle_now: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Until ``stopping`` is set: fetch, then ``handle`` what this worker may process.

        ``idle`` runs instead when nothing was fetched (time to settle what is in flight).
        With a crash guard, a batch holding records suspected of killing workers is handled
        in pieces, each suspect alone and settled before and after with ``settle_now``
        (write everything in flight, commit).
        """
        while not stopping.is_set():
            fetched = await self.fetch()
            async with self.lock:
                if fetched:
                    batches = self._owned(fetched)
                    if batches:
                        began = time.perf_counter()
                        await self._handle(batches, handle, settle_now or idle)
                        size = sum(len(records) for records in batches.values())
                        self._metrics.batch(size, time.perf_counter() - began)
                else:
                    await idle()
            await self._measure_lag()

    async def _handle(
        self,
        batches: Batches,
        handle: Callable[[Batches], Awaitable[None]],
        settle_now: Callable[[], Awaitable[None]],
    ) -> None:
        if self.guard is None or not self.guard.enabled:
            await handle(batches)
            return
        for piece, alone in self.guard.pieces(batches):
            if alone:
                await settle_now()
            self.guard.begin(piece, alone=alone)
            await handle(piece)
            if alone:
                await settle_now()
            self.guard.handled(piece, settled=alone)

    async def fetch(self) -> Batches:
        """The next batch: the partitions' waiting records, aligned by timestamp.

        aiokafka hands out one partition's fetched records before the next one's, so a
        worker draining a backlog would run one partition far ahead of the others, and
        downstream (where windows are) records would arrive far out of order. So each
        partition's records are buffered (an equal share fetched at a time) and a batch
        takes, from every partition with records waiting, those no newer than the slowest
        partition's newest: the partitions move forward in step, as Kafka Streams does. Every
        batch takes at least the slowest partition's records, so it always makes progress.
        """
        owned = self.consumer.assignment()
        share = max(1, self._max_batch // max(1, len(owned)))
        for tp in owned:
            waiting = self._waiting.get(tp)
            if waiting is None or len(waiting) < share:
                fetched = await self.consumer.getmany(tp, timeout_ms=0, max_records=share)
                for records in fetched.values():
                    self._waiting.setdefault(tp, deque()).extend(_as_messages(records))
        if not any(self._waiting.values()):
            fetched = await self.consumer.getmany(
                timeout_ms=self._poll_timeout_ms, max_records=self._max_batch
            )
            for tp, records in fetched.items():
                self._waiting.setdefault(tp, deque()).extend(_as_messages(records))
        ready = {tp: waiting for tp, waiting in self._waiting.items() if waiting}
        if not ready:
            return {}
        if len(ready) == 1:
            [(tp, waiting)] = ready.items()
            self._waiting[tp] = deque()
            return {tp: list(waiting)}
        # a partition's timestamps need not rise (several producers write it): the slowest
        # partition is the one whose newest record is oldest, and all of it is taken
        newest = {tp: max(map(_TIMESTAMP, waiting)) for tp, waiting in ready.items()}
        horizon = min(newest.values())
        batch: Batches = {}
        for tp, waiting in ready.items():
            if newest[tp] <= horizon:  # all of it (the slowest partition, or in step with it)
                batch[tp] = list(waiting)
                waiting.clear()
                continue
            taken = []
            while waiting and waiting[0].timestamp_ms <= horizon:
                taken.append(waiting.popleft())
            if taken:
                batch[tp] = taken
        return batch

    def drop(self, partitions: set[TopicPartition]) -> None:
        """This worker no longer owns ``partitions`` (revoked, or fenced by a new owner).

        Records buffered for them are read again by their next owner.
        """
        self.assignment -= partitions
        for tp in partitions:
            self._waiting.pop(tp, None)
            self._next.pop(tp, None)

    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit ``offsets``; False when a rebalance got there first."""
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:
            # the group moved on while we worked: the new owner re-reads these records
            logger.warning("commit of %s lost to a rebalance; records will be re-read", offsets)
            return False
        return True

    def _owned(self, batches: Batches) -> Batches:
        """The records of ``batches`` this worker may process now.

        Around a rebalance, a fetch may hold records of partitions revoked since (their new
        owner processes them) or of partitions whose set-up is not finished; the latter are
        fetched again from their first offset.
        """
        assert self._owner is not None  # noqa: S101 - started before the first fetch
        assigned = self.consumer.assignment()
        owned: Batches = {}
        for tp, records in batches.items():
            if not records:
                continue
            if tp in self.assignment and self._owner.ready(tp):
                start = self._next.get(tp, 0)
                fresh = records
                if records[0].offset < start:  # rare: a fetch that straddled a rebalance
                    fresh = [r for r in records if r.offset >= start]
                if fresh:
                    owned[tp] = fresh
                    self._next[tp] = fresh[-1].offset + 1
            elif tp in assigned:
                self.consumer.seek(tp, records[0].offset)
                self._waiting.pop(tp, None)
        return owned

    async def _measure_lag(self) -> None:
        """Refresh the lag gauges, at most once a second (``position`` may await)."""
        now = time.monotonic()
        if now - self._lag_at < _LAG_INTERVAL_S:
            return
        self._lag_at = now
        for tp in self.consumer.assignment():
            try:
                highwater = self.consumer.highwater(tp)
                if highwater is None:  # nothing fetched from it yet
                    continue
                position = await self.consumer.position(tp)
            except (IllegalStateError, AssertionError):  # revoked meanwhile
                continue
            waiting = len(self._waiting.get(tp, ()))
            self._metrics.lag(tp.topic, tp.partition, max(0, highwater - position) + waiting)

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        assert self._owner is not None  # noqa: S101 - the listener exists once started
        self._metrics.rebalanced()
        async with self.lock:
            logger.info("%s assigned %s", self.group_id, sorted(map(str, assigned)))
            await self._owner.take(assigned)
            await self._rewind(assigned)
            if self.guard is not None:
                self.guard.refresh()
            self.assignment = set(assigned)

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        assert self._owner is not None  # noqa: S101 - the listener exists once started
        async with self.lock:  # waits for the batch in flight
            self.drop(revoked)
            self._metrics.forget({(tp.topic, tp.partition) for tp in revoked})
            await self._owner.release(revoked)

    async def _rewind(self, assigned: set[TopicPartition]) -> None:
        """Start each partition at its committed offset as it stands now, and only there.

        Under exactly-once this runs once the worker's producers have fenced the
        partitions' previous owners. The consumer looked the offsets up when the assignment
        arrived, which can be before that: a zombie's transaction committed in between (it
        was frozen past its session, then woke) would otherwise be read and written twice.
        After the fence no such transaction can commit, so the offsets read here are final.

        Under exactly-once the offsets are read stable (KIP-447): the previous owner's last
        transaction has committed by now, but a plain offset read can still miss its offsets
        for a moment (they are settled in the group's log after the commit returns), and the
        batch would be processed twice.

        ``_next`` then holds, per partition, the next offset to process: records from
        before the offset (a fetch that straddled the rebalance delivers them late, while
        the consumer reads them again from here) are dropped by :meth:`_owned`.
        """
        starts: dict[int, int] = {}
        committed = await self._committed(assigned)
        for tp in sorted(assigned):
            self._waiting.pop(tp, None)
            offset = committed.get(tp)
            if offset is None:  # never committed: the consumers' reset policy, the start
                offset = (await self.consumer.beginning_offsets([tp]))[tp]
            self.consumer.seek(tp, offset)
            self._next[tp] = offset
            starts[tp.partition] = offset
        logger.info("%s starts from the committed offsets %s", self.group_id, starts)

    async def _committed(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The group's committed offsets of ``assigned``: stable ones when so configured."""
        if self._stable_committed is not None and assigned:
            try:
                return await self._stable_committed(assigned)
            except StableOffsetsUnsupportedError as error:
                logger.warning("%s; reading committed offsets the plain way", error)
                self._stable_committed = None  # said once: the broker will not change
        return {tp: await self.consumer.committed(tp) for tp in sorted(assigned)}


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(
        self,
        assigned: Callable[[set[TopicPartition]], Awaitable[None]],
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        self._assigned = assigned
        self._revoked = revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned(assigned)


def to_messages(batches: Batches) -> list[InMessage]:
    """The records of ``batches``, partition by partition."""
    return [message for messages in batches.values() for message in messages]


def _as_messages(records: list[Any]) -> list[InMessage]:
    """A fetch's records as :class:`InMessage` (librdkafka's consumer hands them so already)."""
    if not records or isinstance(records[0], InMessage):
        return records
    return [
        InMessage(
            r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, tuple(r.headers or ())
        )
        for r in records
    ]
