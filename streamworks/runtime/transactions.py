"""Exactly-once writes: one transactional producer per unit of work that must be fenced.

A unit is an input partition (a stage worker's) or a task (an aggregation worker's). Its
producer's transactional id is fixed by the unit, not by the worker, so the next owner's
producer fences a stalled previous one and aborts its open transaction (aiokafka lacks
KIP-447, so the per-unit id is what makes the fencing work). Each batch of a unit is one
transaction: its outputs and its input offsets commit together or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Generic, TypeVar

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import ProducerFenced

from streamworks.core.messages import OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.sending import BatchSender, acknowledged
from streamworks.runtime.metrics import StageMetrics

__all__ = ["Transactions"]

K = TypeVar("K")


class Transactions(Generic[K]):
    """The transactional producers of one worker of consumer group ``group_id``, by unit."""

    def __init__(self, settings: Settings, group_id: str, metrics: StageMetrics) -> None:
        self._settings = settings
        self._group_id = group_id
        self._metrics = metrics
        self._producers: dict[K, tuple[AIOKafkaProducer, BatchSender]] = {}

    def __contains__(self, unit: object) -> bool:
        return unit in self._producers

    async def open(self, unit: K, transactional_id: str, client_id: str) -> None:
        """Start ``unit``'s producer: this fences its previous owner and aborts its transaction."""
        producer = clients.producer(
            self._settings, transactional_id=transactional_id, client_id=client_id
        )
        await producer.start()
        self._producers[unit] = (producer, BatchSender(producer))

    async def commit(
        self, unit: K, records: list[OutRecord], offsets: dict[TopicPartition, int]
    ) -> bool:
        """``records`` and the input ``offsets`` in one transaction; False when fenced.

        Fenced means another worker owns the unit now: the transaction was aborted, nothing
        of it is visible, and the new owner reads the batch again.
        """
        producer, sender = self._producers[unit]
        began = time.perf_counter()
        try:
            async with producer.transaction():
                await acknowledged(await sender.send(records))
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self._group_id)
        except ProducerFenced:
            return False
        self._metrics.committed(time.perf_counter() - began)
        return True

    async def commit_all(
        self, writes: dict[K, tuple[list[OutRecord], dict[TopicPartition, int]]]
    ) -> set[K]:
        """Each unit's records and offsets in its own transaction, all at once.

        Returns the units that were fenced. Every transaction runs to its end before the
        first failure (other than fencing) is raised.
        """
        units = list(writes)
        results = await asyncio.gather(
            *(self.commit(unit, *writes[unit]) for unit in units), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return {unit for unit, committed in zip(units, results, strict=True) if not committed}

    async def close(self, unit: K, *, fenced: bool = False) -> None:
        """Stop ``unit``'s producer, if it has one (a fenced one may refuse to close cleanly)."""
        opened = self._producers.pop(unit, None)
        if opened is None:
            return
        if fenced:
            with contextlib.suppress(Exception):
                await opened[0].stop()
        else:
            await opened[0].stop()

    async def close_all(self) -> None:
        """Stop every producer."""
        for unit in list(self._producers):
            await self.close(unit)
