"""Watching where orders went: every order id read back from the valid and invalid topics."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.codec import AvroCodec
from schemas.records import InvalidOrder, ValidOrder
from schemas.typed import RecordCodec

__all__ = ["RoutedOrders"]


class RoutedOrders:
    """Counts each order id on ``<prefix>.valid`` and ``<prefix>.invalid`` (committed only).

    Use as an async context manager and call :meth:`poll` repeatedly; ``ids`` then tells
    which orders arrived, and how often (more than once is a duplicate); ``enriched``
    counts the records of ``<prefix>.enriched``.
    """

    def __init__(self, bootstrap_servers: str, codec: AvroCodec, prefix: str) -> None:
        self._codecs: dict[str, RecordCodec[Any]] = {
            f"{prefix}.valid": RecordCodec(ValidOrder, codec, register=False),
            f"{prefix}.invalid": RecordCodec(InvalidOrder, codec, register=False),
        }
        self._enriched_topic = f"{prefix}.enriched"
        self.enriched = 0
        """Records read from the enriched topic."""
        self.ids: Counter[str] = Counter()
        """Order id -> how many times it was read."""
        self.valid = 0
        """Records read from the valid topic."""
        self.invalid = 0
        """Records read from the invalid topic."""
        self._consumer = AIOKafkaConsumer(
            *self._codecs,
            self._enriched_topic,
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )

    async def __aenter__(self) -> RoutedOrders:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 300) -> None:
        """Read what arrived since the last poll."""
        for records in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            for r in records:
                if r.topic == self._enriched_topic:
                    self.enriched += 1
                    continue
                record = self._codecs[r.topic].decode(
                    r.value, topic=r.topic, partition=r.partition, offset=r.offset
                )
                if isinstance(record, ValidOrder):
                    self.valid += 1
                    self.ids[str(record.order_id)] += 1
                else:
                    self.invalid += 1
                    self.ids[str(record.order.order_id)] += 1
