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

import logging

from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from streamworks.core.messages import OutRecord
from streamworks.core.settings import Settings
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.membership import Batches, to_messages
from streamworks.runtime.parts import WorkerParts
from streamworks.runtime.processor import StageProcessor
from streamworks.runtime.topics import formats_of, record_limits
from streamworks.schemas.codec import AvroCodec

__all__ = ["StageWorker"]

logger = logging.getLogger(__name__)


class StageWorker:
    """Runs ``stage`` of ``pipeline`` until ``stop()``; then commits, leaves the group, exits.

    It is made of :class:`~streamworks.runtime.parts.WorkerParts` (its place in the group
    and its writer) and a :class:`~streamworks.runtime.processor.StageProcessor`; under
    exactly-once its unit of transactions is the input partition.
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
        self.settings = settings
        self.parts: WorkerParts[TopicPartition] = WorkerParts(
            pipeline,
            stage,
            settings,
            RoundRobinPartitionAssignor,
            max_batch=max_batch,
            poll_timeout_ms=poll_timeout_ms,
            commit_interval_s=commit_interval_s,
            worker_id=worker_id,
            rdkafka=settings.kafka_client == "librdkafka",
        )
        self.worker_id = self.parts.worker_id
        self.counts = self.parts.counts
        self.metrics = self.parts.metrics
        self._formats = formats_of(pipeline)
        self._processor = StageProcessor(
            self.stage, codec, pipeline.dead_letter_topic(stage), formats=self._formats
        )
        self._codec = codec

    def stop(self) -> None:
        """Ask the loop to finish the batch in flight, commit it and leave the group."""
        self.parts.stop()

    async def run(self) -> None:
        """Consume, process, produce and commit until stopped."""
        for table in self.stage.tables:  # joins need their tables loaded before any record
            await table.start(self.settings, self._codec, format=self._formats[table.topic])
        self._processor.record_limits.update(
            await record_limits(self.settings, list(self.stage.outputs))
        )
        await self.parts.start(list(self.stage.inputs), self)
        logger.info("worker of %s started (group %s)", self.stage.name, self.parts.group_id)
        try:
            await self.parts.run(self._handle, self.parts.settle)
        finally:
            await self.parts.close()
            for table in self.stage.tables:
                await table.stop()
            logger.info("worker of %s stopped: %s", self.stage.name, self.counts)

    async def _handle(self, batches: Batches) -> None:
        # the messages are in partition order, so each partition's are one slice of the batch
        messages = to_messages(batches)
        culprit = None
        if len(messages) == 1:  # a record suspected of killing workers is handled alone
            message = messages[0]
            tp = TopicPartition(message.topic, message.partition)
            culprit = self.parts.guard.culprit(tp, message.offset)
        if culprit is not None:
            result = self._processor.quarantine(messages[0], culprit)
        else:
            result = await self._processor.process(messages)
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        if self.parts.transactions is not None:
            writes: dict[TopicPartition, tuple[list[OutRecord], dict[TopicPartition, int]]] = {}
            start = 0
            for tp, records in batches.items():
                end = start + len(records)
                outputs = [r for out in result.by_message[start:end] for r in out]
                writes[tp] = (outputs, {tp: offsets[tp]})
                start = end
            fenced = await self.parts.transactions.commit_all(writes)
            for tp in fenced:
                await self._fenced(tp)
            if not fenced:  # a fenced partition's records are counted by its new owner
                self.parts.count(result.counts)
        else:
            assert self.parts.at_least_once is not None  # noqa: S101 - one of the two is set
            # Pipelined: this batch's outputs are handed to the producer, then the previous
            # batch is settled (its acknowledgements awaited, its offsets committed) while
            # these are on the wire. Offsets still commit only after their outputs are acked.
            futures = await self.parts.at_least_once.send(result.records)
            await self.parts.at_least_once.handed(futures, offsets, result.counts)

    async def _fenced(self, tp: TopicPartition) -> None:
        """Another worker owns ``tp`` now (this one was a zombie: frozen past its session).

        Its producer fenced ours and aborted the open transaction, so nothing of the batch
        is visible and the new owner reads it again. Let the partition go; if the group
        gives it back, :meth:`take` starts a fresh producer.
        """
        logger.warning(
            "%s: fenced on %s by its new owner; the batch is aborted and left to it",
            self.parts.group_id,
            tp,
        )
        self.parts.member.drop({tp})
        assert self.parts.transactions is not None  # noqa: S101 - only exactly-once is fenced
        await self.parts.transactions.close(tp, fenced=True)

    # -- the group member's Owner ------------------------------------------------------------

    async def take(self, assigned: set[TopicPartition]) -> None:
        """Under exactly-once, start the new partitions' producers (fencing old owners)."""
        transactions = self.parts.transactions
        if transactions is None:
            return
        group = self.parts.group_id
        for tp in sorted(assigned):
            if tp not in transactions:
                await transactions.open(
                    tp,
                    transactional_id=f"{group}.{tp.topic}.{tp.partition}",
                    client_id=f"{group}-{tp.topic}-{tp.partition}",
                )

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Commit what is settled, then stop the ``revoked`` partitions' producers."""
        await self.parts.settle(commit_now=True)
        if self.parts.transactions is not None:
            for tp in revoked:
                await self.parts.transactions.close(tp)

    def ready(self, tp: TopicPartition) -> bool:
        """Under exactly-once, ``tp`` is ready once its producer has started."""
        return self.parts.transactions is None or tp in self.parts.transactions
