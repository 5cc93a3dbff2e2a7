"""One worker of an aggregation stage: a stage worker that keeps state per partition.

On top of :class:`~streamworks.runtime.worker.StageWorker` it owns, for every input partition
number it
is assigned (a *task*), a RocksDB store restored from the task's changelog partition before
the first record is folded. Each batch then writes, per task:

* exactly-once: outputs, changelog records and input offsets in one transaction of the
  task's transactional producer (id ``<group>.task-<partition>``, so a new owner fences a
  stalled old one and aborts its open transaction before restoring);
* at-least-once: outputs first, then (once they are acknowledged) the changelog records,
  then the input offsets. A crash between the two leaves outputs whose state change is not
  in the changelog: the records are folded again (duplicated outputs, exact state); a crash
  after the changelog leaves state the committed offsets do not cover: the store's own
  positions skip those records (exact state, no lost output).

The local store is written only after its changes are durable in the changelog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import ProducerFenced

from streamworks.aggregate.processor import AggregationProcessor, TaskOutput
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.sending import BatchSender
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.processor import Counts, schemas_ready
from streamworks.runtime.worker import StageWorker, acknowledged, gather_all, to_messages
from streamworks.schemas.codec import AvroCodec
from streamworks.state.changelog import ChangelogReader, Restored
from streamworks.state.store import Store, open_store

__all__ = ["AggregationWorker"]

logger = logging.getLogger(__name__)

_STANDBY_INTERVAL_S = 1.0


class AggregationWorker(StageWorker):
    """Runs an aggregation stage until ``stop()``; its state survives it in the changelog."""

    assignors = (RangePartitionAssignor,)  # co-partitioned inputs: partition p of each, together

    def __init__(
        self, pipeline: Pipeline, stage: str, settings: Settings, codec: AvroCodec, **options: Any
    ) -> None:
        super().__init__(pipeline, stage, settings, codec, **options)
        self._aggregation = AggregationProcessor(
            self.stage, codec, pipeline.dead_letter_topic(stage)
        )
        spec = self._aggregation.spec
        self._changelog = spec.changelog
        self._state_dir = Path(settings.state_dir) / self.group_id
        self._reader = ChangelogReader(settings, self._changelog, progress=self.metrics.restoring)
        self._standby_reader = ChangelogReader(settings, self._changelog) if spec.standby else None
        self._standbys: dict[int, Store] = {}
        self._standby_task: asyncio.Task[None] | None = None
        self._task_producers: dict[int, AIOKafkaProducer] = {}
        self._task_senders: dict[int, BatchSender] = {}
        self.restores: list[Restored] = []
        """Every restore this worker did, in order (for metrics and tests)."""
        self._changelog_end: dict[int, int] = {}
        """Per task, where its changelog partition ends if only this worker wrote to it since
        the restore: the restore's end, plus each record written, plus one commit marker
        per transaction that wrote some."""

    @property
    def partitions(self) -> set[int]:
        """The tasks (input partition numbers) whose state this worker holds now."""
        return set(self._aggregation.tasks)

    def value(self, partition: int, key: str) -> Any:
        """The current value of ``key``, whose partition is ``partition``; None if it has none.

        Raises KeyError when this worker does not own ``partition``. The value is the
        aggregation's result, or for windowed ones ``[(window, result), ...]`` of the key's
        open windows.
        """
        return self._aggregation.value(partition, key)

    async def run(self) -> None:
        """Restore, fold and emit until stopped; checkpoint the stores on the way out."""
        await self._reader.start()
        if self._standby_reader is not None:
            await self._standby_reader.start()
            self._standby_task = asyncio.create_task(self._follow_standbys())
        try:
            await super().run()
        finally:
            if self._standby_task is not None:
                self._standby_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._standby_task
            for partition in list(self._aggregation.tasks):
                await self._release(partition, keep_standby=False)
            for store in self._standbys.values():
                store.close()
            self._standbys.clear()
            await self._reader.stop()
            if self._standby_reader is not None:
                await self._standby_reader.stop()

    # -- batches -----------------------------------------------------------------------------

    async def _handle(self, batches: dict[TopicPartition, list[Any]]) -> None:
        batches = self._owned(batches)
        if not batches:
            return
        counts = Counts()
        messages = to_messages(batches)
        # the fold is synchronous and stateful: the registry must answer before it starts
        counts.retries += await schemas_ready(self._codec, messages, self.stage)
        outputs = self._aggregation.process(messages, counts)
        offsets: dict[int, dict[TopicPartition, int]] = defaultdict(dict)
        for tp, records in batches.items():
            offsets[tp.partition][tp] = records[-1].offset + 1
        if await self._write(outputs, offsets):  # a fenced task's records count for its new owner
            self._count(counts)

    def _ready(self, tp: TopicPartition) -> bool:
        return tp in self.assignment and tp.partition in self._aggregation.tasks

    async def _idle(self) -> None:
        outputs = self._aggregation.tick()
        if outputs:
            await self._write(outputs, {})
        await self._settle()

    async def _write(
        self, outputs: dict[int, TaskOutput], offsets: dict[int, dict[TopicPartition, int]]
    ) -> bool:
        """Write (and under exactly-once commit) the outputs; False when a task was fenced."""
        stores = self._aggregation.tasks
        fenced = False
        if self.exactly_once:
            partitions = sorted(set(outputs) | set(offsets))
            committed = await gather_all(
                [
                    self._transaction(partition, outputs.get(partition), offsets.get(partition, {}))
                    for partition in partitions
                ]
            )
            for partition, done in zip(partitions, committed, strict=True):
                if not done:
                    await self._fenced(partition)
                    outputs.pop(partition, None)
                    fenced = True
                elif partition in outputs and outputs[partition].changelog:
                    self._wrote(partition, len(outputs[partition].changelog) + 1)  # + marker
        else:
            assert self._sender is not None  # noqa: S101 - at-least-once always has one
            results = [r for output in outputs.values() for r in output.records]
            await acknowledged(await self._sender.send(results))
            changelog = [r for output in outputs.values() for r in output.changelog]
            await acknowledged(await self._sender.send(changelog))
            for partition, output in outputs.items():
                self._wrote(partition, len(output.changelog))
            for partition_offsets in offsets.values():
                self._settled.update(partition_offsets)
            await self._settle()
        for partition in outputs:
            stores[partition].commit(None)
        return not fenced

    async def _transaction(
        self, partition: int, output: TaskOutput | None, offsets: dict[TopicPartition, int]
    ) -> bool:
        """One task's results, changelog and offsets in one transaction; False when fenced."""
        producer = self._task_producers[partition]
        records = [] if output is None else [*output.records, *output.changelog]
        try:
            async with producer.transaction():
                await acknowledged(await self._task_senders[partition].send(records))
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self.group_id)
        except ProducerFenced:
            return False
        return True

    async def _fenced(self, partition: int) -> None:
        """Another worker owns the task now (this one was a zombie, frozen past its session).

        Its transaction was aborted, so the task's pending changes are dropped and its store
        is closed without a checkpoint: it holds nothing the changelog does not. If the group
        gives the task back, it is restored as usual.
        """
        logger.warning(
            "%s: fenced on task %d by its new owner; the batch is aborted and left to it",
            self.group_id,
            partition,
        )
        self.assignment = {tp for tp in self.assignment if tp.partition != partition}
        self._next = {tp: n for tp, n in self._next.items() if tp.partition != partition}
        self._changelog_end.pop(partition, None)
        store = self._aggregation.close_task(partition)
        if store is not None:
            store.discard()
            store.close()
        self._task_senders.pop(partition, None)
        producer = self._task_producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(Exception):  # a fenced producer may refuse to close cleanly
                await producer.stop()

    # -- assignment --------------------------------------------------------------------------

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Fence old owners (exactly-once), restore each new task's store, then go."""
        async with self._batch_lock:
            logger.info("%s assigned %s", self.group_id, sorted(map(str, assigned)))
            for partition in sorted({tp.partition for tp in assigned}):
                if partition in self._aggregation.tasks:
                    continue
                if self.exactly_once:
                    await self._start_task_producer(partition)
                store = self._standbys.pop(partition, None) or open_store(
                    self._state_dir, partition
                )
                restored = await self._reader.restore(partition, store)
                self.restores.append(restored)
                self._changelog_end[partition] = restored.end
                self.metrics.restored(restored.records)
                self._aggregation.open_task(partition, store)
            await self._rewind(assigned)
            self.assignment = set(assigned)

    async def _let_go(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint and release the tasks none of whose partitions this worker keeps."""
        kept = {tp.partition for tp in self.assignment}
        for partition in sorted({tp.partition for tp in revoked} - kept):
            await self._release(partition, keep_standby=self._standby_reader is not None)

    async def _start_task_producer(self, partition: int) -> None:
        producer = clients.producer(
            self.settings,
            transactional_id=f"{self.group_id}.task-{partition}",
            client_id=f"{self.group_id}-task-{partition}",
        )
        await producer.start()  # fences the previous owner and aborts its open transaction
        self._task_producers[partition] = producer
        self._task_senders[partition] = BatchSender(producer)

    async def _release(self, partition: int, *, keep_standby: bool) -> None:
        store = self._aggregation.close_task(partition)
        if store is not None:
            await self._checkpoint(partition, store)
            if keep_standby:
                self._standbys[partition] = store
            else:
                store.close()
        self._task_senders.pop(partition, None)
        producer = self._task_producers.pop(partition, None)
        if producer is not None:
            await producer.stop()

    def _wrote(self, partition: int, offsets: int) -> None:
        if partition in self._changelog_end:
            self._changelog_end[partition] += offsets

    async def _checkpoint(self, partition: int, store: Store) -> None:
        """Record that the local store is complete up to the changelog's current end.

        Only when the end is where this worker's own writes put it. Otherwise another
        worker wrote meanwhile (this one was a zombie that lost the task while frozen) and
        the store lacks those changes: it keeps its older checkpoint, and the next restore
        replays everything after it (changelog records are whole values, so replaying this
        worker's own changes again is harmless).
        """
        expected = self._changelog_end.pop(partition, None)
        with contextlib.suppress(Exception):  # best effort: without it, restore replays more
            end = await self._reader.end_offset(partition)
            if end != expected:
                logger.info(
                    "%s[%d]: changelog ends at %d, not %s as this worker left it; "
                    "not checkpointing (another worker wrote to it)",
                    self._changelog,
                    partition,
                    end,
                    expected,
                )
                return
            store.apply([], end)

    # -- standby copies ------------------------------------------------------------------------

    async def _follow_standbys(self) -> None:
        """Keep a warm copy of every partition this worker does not own."""
        assert self._standby_reader is not None  # noqa: S101 - started with standby on
        while True:
            await asyncio.sleep(_STANDBY_INTERVAL_S)
            try:
                partitions = self._consumer.partitions_for_topic(self.stage.inputs[0]) or set()
                async with self._batch_lock:
                    for partition in sorted(set(partitions) - set(self._aggregation.tasks)):
                        store = self._standbys.get(partition)
                        if store is None:
                            store = self._standbys[partition] = open_store(
                                self._state_dir, partition
                            )
                        await self._standby_reader.catch_up(partition, store)
            except asyncio.CancelledError:
                raise
            except Exception:  # a standby is an optimisation; the next round tries again
                logger.warning("standby copies of %s lag", self._changelog, exc_info=True)
