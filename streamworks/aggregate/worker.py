"""One worker of an aggregation stage: a member of the stage's group that keeps state.

Like a stage worker it is made of a :class:`~streamworks.runtime.membership.GroupMember` and
either :class:`~streamworks.runtime.transactions.Transactions` or
:class:`~streamworks.runtime.commits.AtLeastOnce`. On top, it owns for every input partition
number it is assigned (a *task*) a RocksDB store restored from the task's changelog partition
before the first record is folded. Each batch then writes, per task:

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

from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from streamworks.aggregate.processor import AggregationProcessor, TaskOutput
from streamworks.core.messages import OutRecord
from streamworks.core.settings import Settings
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.membership import Batches, to_messages
from streamworks.runtime.parts import WorkerParts
from streamworks.runtime.processor import Counts, schemas_ready
from streamworks.runtime.topics import formats_of, record_limits
from streamworks.schemas.codec import AvroCodec
from streamworks.state.changelog import ChangelogReader, Restored
from streamworks.state.store import Store, open_store

__all__ = ["AggregationWorker"]

logger = logging.getLogger(__name__)

_STANDBY_INTERVAL_S = 1.0


class AggregationWorker:
    """Runs an aggregation stage until ``stop()``; its state survives it in the changelog.

    It is made of :class:`~streamworks.runtime.parts.WorkerParts` and an
    :class:`~streamworks.aggregate.processor.AggregationProcessor`; its group spreads
    partitions by range, so co-partitioned inputs (partition p of each) go to the same worker,
    as the task p, which is also its unit of transactions under exactly-once.
    """

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
        self.stage = pipeline.stages[stage]
        self.parts: WorkerParts[int] = WorkerParts(
            pipeline,
            stage,
            settings,
            RangePartitionAssignor,
            max_batch=max_batch,
            poll_timeout_ms=poll_timeout_ms,
            commit_interval_s=commit_interval_s,
            worker_id=worker_id,
        )
        self.worker_id = self.parts.worker_id
        self.counts = self.parts.counts
        self.metrics = self.parts.metrics
        self.restores: list[Restored] = []
        """Every restore this worker did, in order (for metrics and tests)."""
        self._codec = codec
        self._settings = settings
        self._aggregation = AggregationProcessor(
            self.stage,
            codec,
            pipeline.dead_letter_topic(stage),
            formats=formats_of(pipeline),
            upstream=pipeline.upstream_of(stage),
        )
        spec = self._aggregation.spec
        self._changelog = spec.changelog
        self._state_dir = Path(settings.state_dir) / self.parts.group_id
        self._reader = ChangelogReader(settings, self._changelog, progress=self.metrics.restoring)
        self._standby_reader = ChangelogReader(settings, self._changelog) if spec.standby else None
        self._standbys: dict[int, Store] = {}
        self._standby_task: asyncio.Task[None] | None = None
        self._changelog_end: dict[int, int] = {}
        """Per task, where its changelog partition ends if only this worker wrote to it since
        the restore: the restore's end, plus each record written, plus one commit marker
        per transaction that wrote some."""

    def stop(self) -> None:
        """Ask the loop to finish the batch in flight, commit it and leave the group."""
        self.parts.stop()

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
        self._aggregation.record_limits.update(
            await record_limits(self._settings, [self._aggregation.spec.output])
        )
        await self.parts.start(list(self.stage.inputs), self)
        logger.info("worker of %s started (group %s)", self.stage.name, self.parts.group_id)
        try:
            await self.parts.run(self._handle, self._idle)
        finally:
            await self.parts.close()
            if self._standby_task is not None:
                self._standby_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._standby_task
            for partition in list(self._aggregation.tasks):
                await self._release_task(partition, keep_standby=False)
            for store in self._standbys.values():
                store.close()
            self._standbys.clear()
            await self._reader.stop()
            if self._standby_reader is not None:
                await self._standby_reader.stop()
            logger.info("worker of %s stopped: %s", self.stage.name, self.counts)

    # -- batches -----------------------------------------------------------------------------

    async def _handle(self, batches: Batches) -> None:
        counts = Counts()
        messages = to_messages(batches)
        # the fold is synchronous and stateful: the registry must answer before it starts
        counts.retries += await schemas_ready(
            self._codec, messages, self.stage, avro=self._aggregation.inputs.avro
        )
        culprit = None
        if len(messages) == 1:  # a record suspected of killing workers is handled alone
            message = messages[0]
            culprit = self.parts.guard.culprit(
                TopicPartition(message.topic, message.partition), message.offset
            )
        if culprit is not None:
            outputs = self._aggregation.quarantine(messages[0], culprit, counts)
        else:
            outputs = self._aggregation.process(messages, counts)
        # tasks with no records in this batch may have windows to close too
        for partition, extra in self._aggregation.tick(counts).items():
            output = outputs.setdefault(partition, extra)
            if output is not extra:
                output.records.extend(extra.records)
                output.changelog = extra.changelog  # collected later: every pending change
        offsets: dict[int, dict[TopicPartition, int]] = defaultdict(dict)
        for tp, records in batches.items():
            offsets[tp.partition][tp] = records[-1].offset + 1
        if await self._write(outputs, offsets):  # a fenced task's records count for its new owner
            self.parts.count(counts)

    async def _idle(self) -> None:
        counts = Counts()
        outputs = self._aggregation.tick(counts)
        if outputs and await self._write(outputs, {}):
            self.parts.count(counts)
        await self.parts.settle()

    async def _write(
        self, outputs: dict[int, TaskOutput], offsets: dict[int, dict[TopicPartition, int]]
    ) -> bool:
        """Write (and under exactly-once commit) the outputs; False when a task was fenced."""
        stores = self._aggregation.tasks
        fenced: set[int] = set()
        if self.parts.transactions is not None:
            writes: dict[int, tuple[list[OutRecord], dict[TopicPartition, int]]] = {
                partition: (_task_records(outputs.get(partition)), offsets.get(partition, {}))
                for partition in sorted(set(outputs) | set(offsets))
            }
            fenced = await self.parts.transactions.commit_all(writes)
            for partition in sorted(fenced):
                await self._fenced(partition)
                outputs.pop(partition, None)
            for partition, output in outputs.items():
                if output.changelog:
                    self._wrote(partition, len(output.changelog) + 1)  # + the commit marker
        else:
            at_least_once = self.parts.at_least_once
            assert at_least_once is not None  # noqa: S101 - one of the two is set
            await at_least_once.write([r for out in outputs.values() for r in out.records])
            await at_least_once.write([r for out in outputs.values() for r in out.changelog])
            for partition, output in outputs.items():
                self._wrote(partition, len(output.changelog))
            for partition_offsets in offsets.values():
                at_least_once.settled(partition_offsets)
            await at_least_once.settle()
        for partition in outputs:
            stores[partition].commit(None)
        return not fenced

    async def _fenced(self, partition: int) -> None:
        """Another worker owns the task now (this one was a zombie, frozen past its session).

        Its transaction was aborted, so the task's pending changes are dropped and its store
        is closed without a checkpoint: it holds nothing the changelog does not. If the group
        gives the task back, it is restored as usual.
        """
        logger.warning(
            "%s: fenced on task %d by its new owner; the batch is aborted and left to it",
            self.parts.group_id,
            partition,
        )
        self.parts.member.drop(
            {tp for tp in self.parts.member.assignment if tp.partition == partition}
        )
        self._changelog_end.pop(partition, None)
        store = self._aggregation.close_task(partition)
        if store is not None:
            store.discard()
            store.close()
        assert self.parts.transactions is not None  # noqa: S101 - only exactly-once is fenced
        await self.parts.transactions.close(partition, fenced=True)

    # -- assignment (the member's Owner) -----------------------------------------------------

    async def take(self, assigned: set[TopicPartition]) -> None:
        """Fence old owners (exactly-once) and restore each new task's store."""
        for partition in sorted({tp.partition for tp in assigned}):
            if partition in self._aggregation.tasks:
                continue
            if self.parts.transactions is not None:
                # starting the producer fences the previous owner and aborts its transaction
                await self.parts.transactions.open(
                    partition,
                    transactional_id=f"{self.parts.group_id}.task-{partition}",
                    client_id=f"{self.parts.group_id}-task-{partition}",
                )
            store = self._standbys.pop(partition, None) or open_store(self._state_dir, partition)
            restored = await self._reader.restore(partition, store)
            self.restores.append(restored)
            self._changelog_end[partition] = restored.end
            self.metrics.restored(restored.records)
            self._aggregation.open_task(partition, store)

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Commit what is settled; checkpoint and release the tasks this worker no longer has."""
        await self.parts.settle(commit_now=True)
        kept = {tp.partition for tp in self.parts.member.assignment}
        for partition in sorted({tp.partition for tp in revoked} - kept):
            await self._release_task(partition, keep_standby=self._standby_reader is not None)

    def ready(self, tp: TopicPartition) -> bool:
        """``tp`` is ready once its task's store is restored."""
        return tp.partition in self._aggregation.tasks

    async def _release_task(self, partition: int, *, keep_standby: bool) -> None:
        store = self._aggregation.close_task(partition)
        if store is not None:
            await self._checkpoint(partition, store)
            if keep_standby:
                self._standbys[partition] = store
            else:
                store.close()
        if self.parts.transactions is not None:
            await self.parts.transactions.close(partition)

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
                partitions = (
                    self.parts.member.consumer.partitions_for_topic(self.stage.inputs[0]) or set()
                )
                async with self.parts.member.lock:
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


def _task_records(output: TaskOutput | None) -> list[Any]:
    """One task's writes of a batch: its results, then its changelog records."""
    return [] if output is None else [*output.records, *output.changelog]
