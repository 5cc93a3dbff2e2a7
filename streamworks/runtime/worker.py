"""One worker of one stage on Kafka: a member of the stage's consumer group.

Offsets are exact because they move batch by batch: fetch a batch, process it, hand every
output to the producer, and commit the batch's offsets only once all its outputs are
acknowledged. Under at-least-once the acknowledgements of one batch are awaited while the
next batch is processed (one batch in flight); under exactly-once each batch is one
transaction per partition. Either way an offset is committed only when it and every earlier
offset of its partition have been processed and their outputs are durable, whatever the
concurrency inside the batch. A rebalance first settles the batch in flight, so no partition
is revoked mid-batch.

Under exactly-once, each input partition has its own transactional producer (id
``<group>.<topic>.<partition>``): outputs and the input offsets commit in one transaction,
and a new owner of the partition fences a stalled old one (aiokafka lacks KIP-447, so the
per-partition id is what makes the fencing work).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, ProducerFenced

from streamworks.core.messages import InMessage, OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.sending import BatchSender
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.metrics import StageMetrics
from streamworks.runtime.processor import Counts, StageProcessor
from streamworks.schemas.codec import AvroCodec

__all__ = ["StageWorker", "acknowledged", "gather_all", "to_messages"]

T = TypeVar("T")

logger = logging.getLogger(__name__)

_LAG_INTERVAL_S = 1.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, worker: StageWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._worker.metrics.rebalanced()
        await self._worker.on_assigned(assigned)


class StageWorker:
    """Runs ``stage`` of ``pipeline`` until ``stop()``; then commits, leaves the group, exits."""

    assignors: tuple[type, ...] = (RoundRobinPartitionAssignor,)
    """How the group spreads partitions over the pool (aiokafka's default)."""

    def __init__(
        self,
        pipeline: Pipeline,
        stage: str,
        settings: Settings,
        codec: AvroCodec,
        *,
        max_batch: int = 500,
        poll_timeout_ms: int = 200,
        commit_interval_s: float = 0.2,
        worker_id: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.stage = pipeline.stages[stage]
        self.settings = settings
        self.group_id = pipeline.group_id(stage)
        self.exactly_once = pipeline.guarantee == "exactly-once"
        self.counts = Counts()
        """This worker's accounting since it started."""
        self.assignment: set[TopicPartition] = set()
        """Partitions this worker owns right now."""
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        """The id this worker publishes its stats and metrics under."""
        self.metrics = StageMetrics(pipeline.name, stage, self.worker_id)
        """Its Prometheus figures (served by
        :class:`~streamworks.runtime.metrics.MetricsServer`)."""
        self._lag_at = 0.0
        self._processor = StageProcessor(self.stage, codec, pipeline.dead_letter_topic(stage))
        self._codec = codec
        self._max_batch = max_batch
        self._poll_timeout_ms = poll_timeout_ms
        self._batch_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._sender: BatchSender | None = None
        self._senders: dict[TopicPartition, BatchSender] = {}
        self._transactional: dict[TopicPartition, AIOKafkaProducer] = {}
        self._commit_interval_s = commit_interval_s
        self._waiting: dict[TopicPartition, deque[Any]] = {}
        self._next: dict[TopicPartition, int] = {}
        """Per owned partition, the next offset to process (see :meth:`_rewind`)."""
        self._last_commit = time.monotonic()
        self._settled: dict[TopicPartition, int] = {}
        self._settled_counts = Counts()
        self._inflight: (
            tuple[list[asyncio.Future[Any]], dict[TopicPartition, int], Counts] | None
        ) = None
        self._consumer = clients.consumer(
            settings=settings.model_copy(
                update={"guarantee": pipeline.guarantee, "client_id": f"{self.group_id}"}
            ),
            group_id=self.group_id,
            max_poll_records=max_batch,
            isolation_level="read_committed",
            partition_assignment_strategy=self.assignors,
        )

    def stop(self) -> None:
        """Ask the loop to finish the batch in flight, commit it and leave the group."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume, process, produce and commit until stopped."""
        if not self.exactly_once:
            self._producer = clients.producer(self.settings, client_id=f"{self.group_id}-out")
            await self._producer.start()
            self._sender = BatchSender(self._producer)
        for table in self.stage.tables:  # joins need their tables loaded before any record
            await table.start(self.settings, self._codec)
        self._consumer.subscribe(list(self.stage.inputs), listener=_Rebalance(self))
        await self._consumer.start()
        logger.info("worker of %s started (group %s)", self.stage.name, self.group_id)
        try:
            while not self._stopping.is_set():
                batches = await self._fetch()
                async with self._batch_lock:
                    if batches:
                        began = time.perf_counter()
                        await self._handle(batches)
                        size = sum(len(records) for records in batches.values())
                        self.metrics.batch(size, time.perf_counter() - began)
                    else:
                        await self._idle()
                await self._measure_lag()
            async with self._batch_lock:
                await self._settle(commit_now=True)
        finally:
            await self._consumer.stop()  # leaves the group: partitions move on at once
            await self._close_producers()
            for table in self.stage.tables:
                await table.stop()
            self.metrics.forget()
            logger.info("worker of %s stopped: %s", self.stage.name, self.counts)

    async def _handle(self, batches: dict[TopicPartition, list[Any]]) -> None:
        batches = self._owned(batches)
        if not batches:
            return
        # the messages are in partition order, so each partition's are one slice of the batch
        messages = [
            InMessage(
                r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, tuple(r.headers or ())
            )
            for records in batches.values()
            for r in records
        ]
        result = await self._processor.process(messages)
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        if self.exactly_once:
            per_tp: dict[TopicPartition, list[OutRecord]] = {}
            start = 0
            for tp, records in batches.items():
                end = start + len(records)
                per_tp[tp] = [r for outputs in result.by_message[start:end] for r in outputs]
                start = end
            committed = await gather_all(
                [self._commit_transaction(tp, per_tp[tp], offsets[tp]) for tp in offsets]
            )
            if all(committed):  # a fenced partition's records are counted by its new owner
                self._count(result.counts)
        else:
            # Pipelined: this batch's outputs are handed to the producer, then the previous
            # batch is settled (its acknowledgements awaited, its offsets committed) while
            # these are on the wire. Offsets still commit only after their outputs are acked.
            futures = await self._send_all(result.records)
            await self._settle()
            self._inflight = (futures, offsets, result.counts)

    async def _fetch(self) -> dict[TopicPartition, list[Any]]:
        """The next batch: the partitions' waiting records, aligned by timestamp.

        aiokafka hands out one partition's fetched records before the next one's, so a
        worker draining a backlog would run one partition far ahead of the others, and
        downstream (where windows are) records would arrive far out of order. So each
        partition's records are buffered (an equal share fetched at a time) and a batch
        takes, from every partition with records waiting, those no newer than the slowest
        partition's newest: the partitions move forward in step, as Kafka Streams does. Every
        batch takes at least the slowest partition's records, so it always makes progress.
        """
        owned = self._consumer.assignment()
        share = max(1, self._max_batch // max(1, len(owned)))
        for tp in owned:
            waiting = self._waiting.get(tp)
            if waiting is None or len(waiting) < share:
                fetched = await self._consumer.getmany(tp, timeout_ms=0, max_records=share)
                for records in fetched.values():
                    self._waiting.setdefault(tp, deque()).extend(records)
        if not any(self._waiting.values()):
            fetched = await self._consumer.getmany(
                timeout_ms=self._poll_timeout_ms, max_records=self._max_batch
            )
            for tp, records in fetched.items():
                self._waiting.setdefault(tp, deque()).extend(records)
        ready = {tp: waiting for tp, waiting in self._waiting.items() if waiting}
        if not ready:
            return {}
        if len(ready) == 1:
            [(tp, waiting)] = ready.items()
            self._waiting[tp] = deque()
            return {tp: list(waiting)}
        # a partition's timestamps need not rise (several producers write it): the slowest
        # partition is the one whose newest record is oldest, and all of it is taken
        horizon = min(max(r.timestamp for r in waiting) for waiting in ready.values())
        batch: dict[TopicPartition, list[Any]] = {}
        for tp, waiting in ready.items():
            taken = []
            while waiting and waiting[0].timestamp <= horizon:
                taken.append(waiting.popleft())
            if taken:
                batch[tp] = taken
        return batch

    async def _idle(self) -> None:
        """Nothing was fetched: settle what is in flight."""
        await self._settle()

    def _owned(self, batches: dict[TopicPartition, list[Any]]) -> dict[TopicPartition, list[Any]]:
        """The records of ``batches`` this worker may process now.

        Around a rebalance, a fetch may hold records of partitions revoked since (their new
        owner processes them) or of partitions whose set-up is not finished; the latter are
        fetched again from their first offset.
        """
        assigned = self._consumer.assignment()
        owned: dict[TopicPartition, list[Any]] = {}
        for tp, records in batches.items():
            if not records:
                continue
            if self._ready(tp):
                start = self._next.get(tp, 0)
                fresh = records
                if records[0].offset < start:  # rare: a fetch that straddled a rebalance
                    fresh = [r for r in records if r.offset >= start]
                if fresh:
                    owned[tp] = fresh
                    self._next[tp] = fresh[-1].offset + 1
            elif tp in assigned:
                self._consumer.seek(tp, records[0].offset)
                self._waiting.pop(tp, None)
        return owned

    def _ready(self, tp: TopicPartition) -> bool:
        """True when ``tp`` is owned and set up (under exactly-once: its producer started)."""
        return tp in self.assignment and (not self.exactly_once or tp in self._transactional)

    async def _send_all(self, records: list[OutRecord]) -> list[asyncio.Future[Any]]:
        assert self._sender is not None  # noqa: S101 - at-least-once always has one
        return await self._sender.send(records)

    async def _settle(self, *, commit_now: bool = False) -> None:
        """Wait for the batch in flight to be acknowledged; commit what is settled.

        Settled offsets are committed at most every ``commit_interval_s`` (and always before
        a rebalance or stop): committing each small batch would cost a round trip per batch,
        and a crash re-reads at most one interval's records.
        """
        if self._inflight is not None:
            futures, offsets, counts = self._inflight
            self._inflight = None
            await _acknowledged(futures)
            self._settled.update(offsets)
            self._settled_counts.add(counts)
        due = time.monotonic() - self._last_commit >= self._commit_interval_s
        if not self._settled or not (commit_now or due):
            return
        offsets, self._settled = self._settled, {}
        counts, self._settled_counts = self._settled_counts, Counts()
        self._last_commit = time.monotonic()
        began = time.perf_counter()
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError:
            # the group moved on while we worked: the new owner re-reads these records
            logger.warning("commit of %s lost to a rebalance; records will be re-read", offsets)
            return
        self.metrics.committed(time.perf_counter() - began)
        self._count(counts)

    def _count(self, counts: Counts) -> None:
        """Count records as done: in the stats and in the metrics."""
        self.counts.add(counts)
        self.metrics.counted(counts)

    async def _measure_lag(self) -> None:
        """Refresh the lag gauges, at most once a second (``position`` may await)."""
        now = time.monotonic()
        if now - self._lag_at < _LAG_INTERVAL_S:
            return
        self._lag_at = now
        for tp in self._consumer.assignment():
            try:
                highwater = self._consumer.highwater(tp)
                if highwater is None:  # nothing fetched from it yet
                    continue
                position = await self._consumer.position(tp)
            except (IllegalStateError, AssertionError):  # revoked meanwhile
                continue
            waiting = len(self._waiting.get(tp, ()))
            self.metrics.lag(tp.topic, tp.partition, max(0, highwater - position) + waiting)

    async def _commit_transaction(
        self, tp: TopicPartition, records: list[OutRecord], offset: int
    ) -> bool:
        """One partition's outputs and offset in one transaction; False when fenced."""
        producer = self._transactional[tp]
        began = time.perf_counter()
        try:
            async with producer.transaction():
                await _acknowledged(await self._senders[tp].send(records))
                await producer.send_offsets_to_transaction({tp: offset}, self.group_id)
        except ProducerFenced:
            await self._fenced(tp)
            return False
        self.metrics.committed(time.perf_counter() - began)
        return True

    async def _fenced(self, tp: TopicPartition) -> None:
        """Another worker owns ``tp`` now (this one was a zombie: frozen past its session).

        Its producer fenced ours and aborted the open transaction, so nothing of the batch
        is visible and the new owner reads it again. Let the partition go; if the group
        gives it back, ``on_assigned`` starts a fresh producer.
        """
        logger.warning(
            "%s: fenced on %s by its new owner; the batch is aborted and left to it",
            self.group_id,
            tp,
        )
        self.assignment.discard(tp)
        self._waiting.pop(tp, None)
        self._next.pop(tp, None)
        self._senders.pop(tp, None)
        producer = self._transactional.pop(tp, None)
        if producer is not None:
            with contextlib.suppress(Exception):  # a fenced producer may refuse to close cleanly
                await producer.stop()

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Take new partitions; under exactly-once, start their producers (fencing old owners)."""
        async with self._batch_lock:
            logger.info("%s assigned %s", self.group_id, sorted(map(str, assigned)))
            if self.exactly_once:
                for tp in assigned:
                    if tp not in self._transactional:
                        producer = clients.producer(
                            self.settings,
                            transactional_id=f"{self.group_id}.{tp.topic}.{tp.partition}",
                            client_id=f"{self.group_id}-{tp.topic}-{tp.partition}",
                        )
                        await producer.start()
                        self._transactional[tp] = producer
                        self._senders[tp] = BatchSender(producer)
            await self._rewind(assigned)
            self.assignment = set(assigned)

    async def _rewind(self, assigned: set[TopicPartition]) -> None:
        """Start each partition at its committed offset as it stands now, and only there.

        Under exactly-once this runs once this worker's producers have fenced the
        partitions' previous owners. The consumer looked the offsets up when the assignment
        arrived, which can be before that: a zombie's transaction committed in between (it
        was frozen past its session, then woke) would otherwise be read and written twice.
        After the fence no such transaction can commit, so the offsets read here are final.

        ``_next`` then holds, per partition, the next offset to process: records from
        before the offset (a fetch that straddled the rebalance delivers them late, while
        the consumer reads them again from here) are dropped by :meth:`_owned`.
        """
        starts: dict[int, int] = {}
        for tp in sorted(assigned):
            self._waiting.pop(tp, None)
            offset = await self._consumer.committed(tp)
            if offset is None:  # never committed: the consumers' reset policy, the start
                offset = (await self._consumer.beginning_offsets([tp]))[tp]
            self._consumer.seek(tp, offset)
            self._next[tp] = offset
            starts[tp.partition] = offset
        logger.info("%s starts from the committed offsets %s", self.group_id, starts)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Wait for the batch in flight (it commits), then let the partitions go."""
        async with self._batch_lock:
            await self._settle(commit_now=True)
            self.assignment -= set(revoked)
            self.metrics.forget({(tp.topic, tp.partition) for tp in revoked})
            for tp in revoked:  # records buffered for them are re-read by their next owner
                self._waiting.pop(tp, None)
                self._next.pop(tp, None)
            await self._let_go(revoked)

    async def _let_go(self, revoked: set[TopicPartition]) -> None:
        """Release what this worker held for the ``revoked`` partitions (their producers)."""
        for tp in revoked:
            self._senders.pop(tp, None)
            producer = self._transactional.pop(tp, None)
            if producer is not None:
                await producer.stop()

    async def _close_producers(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        for producer in self._transactional.values():
            await producer.stop()
        self._transactional.clear()


async def _acknowledged(futures: list[asyncio.Future[Any]]) -> None:
    """Wait until every send is acknowledged; raise the first failure.

    Waiting on the last one first, then only on what is still pending (not a gather with a
    callback per future) keeps this cheap with hundreds of records per batch.
    """
    if not futures:
        return
    with contextlib.suppress(Exception):  # a failure is raised below, in order
        await futures[-1]  # sent last: usually everything before it is done by then
    pending = [f for f in futures if not f.done()]
    if pending:
        await asyncio.wait(pending)
    # every failure is retrieved (asyncio would log the others as never retrieved)
    failures = [asyncio.CancelledError() if f.cancelled() else f.exception() for f in futures]
    first = next((failure for failure in failures if failure is not None), None)
    if first is not None:
        raise first


acknowledged = _acknowledged


async def gather_all(awaitables: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run all to the end, then raise the first failure (after retrieving every one)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]  # no exception left in it


def to_messages(batches: dict[TopicPartition, list[Any]]) -> list[InMessage]:
    """aiokafka's records as :class:`InMessage`, partition by partition."""
    return [
        InMessage(
            r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, tuple(r.headers or ())
        )
        for records in batches.values()
        for r in records
    ]
