"""Handing a batch of output records to an aiokafka producer, partition batch by partition.

aiokafka's ``send()`` costs a coroutine, a future and a pass through its accumulator per
record. A stage already has its outputs as a list, so they are grouped by partition (the
record's explicit one, as for state changelogs, or else Kafka's key hashing, exactly what
``send()`` would choose) and appended to record batches that are submitted whole: one
future per batch. Per-partition order is the list's order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from streamworks.core.messages import OutRecord
from streamworks.kafka.clients import key_partitioner

__all__ = ["BatchSender", "acknowledged"]

_PARTITIONS_TTL_S = 30.0


class BatchSender:
    """Sends lists of :class:`OutRecord` through one producer; returns one future per batch."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer
        self._partitions: dict[str, tuple[float, list[int]]] = {}

    async def send(self, records: list[OutRecord]) -> list[asyncio.Future[Any]]:
        """Queue ``records``; await the returned futures to know they are acknowledged."""
        groups: dict[tuple[str, int], list[OutRecord]] = {}
        known: dict[str, list[int]] = {}  # usually one output topic: looked up once per call
        for record in records:
            topic = record.topic
            partition = record.partition
            if partition is None:
                partitions = known.get(topic)
                if partitions is None:
                    partitions = known[topic] = await self._partitions_of(topic)
                partition = key_partitioner(record.key, partitions, partitions)
            group = groups.get((topic, partition))
            if group is None:
                groups[topic, partition] = [record]
            else:
                group.append(record)
        futures: list[asyncio.Future[Any]] = []
        try:
            await self._submit_groups(groups, futures)
        except BaseException:
            # the caller gets this error, not the futures: theirs are retrieved here, or
            # asyncio logs each as "never retrieved" (a fenced producer fails them all)
            for future in futures:
                future.add_done_callback(_retrieve)
            raise
        return futures

    async def _submit_groups(
        self,
        groups: dict[tuple[str, int], list[OutRecord]],
        futures: list[asyncio.Future[Any]],
    ) -> None:
        """Submit each partition's records in as few batches as fit; append their futures."""
        for (topic, partition), group in groups.items():
            batch = self._producer.create_batch()
            for record in group:
                if self._append(batch, record):
                    continue
                futures.append(await self._submit(batch, topic, partition))
                batch = self._producer.create_batch()
                if not self._append(batch, record):
                    raise MessageSizeTooLargeError(
                        f"a record of {len(record.value or b'')} bytes does not fit in a batch "
                        f"for {topic}"
                    )
            futures.append(await self._submit(batch, topic, partition))

    async def _submit(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        # A closed batch is complete: the producer sends it at once instead of lingering
        # for records that could only arrive through send(), which streamworks never uses.
        batch.close()
        future: asyncio.Future[Any] = await self._producer.send_batch(
            batch, topic, partition=partition
        )
        return future

    @staticmethod
    def _append(batch: Any, record: OutRecord) -> bool:
        # aiokafka's record builder wants the headers as a list
        metadata = batch.append(
            timestamp=None, key=record.key, value=record.value, headers=list(record.headers)
        )
        return metadata is not None

    async def _partitions_of(self, topic: str) -> list[int]:
        cached = self._partitions.get(topic)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _PARTITIONS_TTL_S:
            return cached[1]
        partitions = sorted(await self._producer.partitions_for(topic))
        self._partitions[topic] = (now, partitions)
        return partitions


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def acknowledged(futures: list[asyncio.Future[Any]]) -> None:
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
