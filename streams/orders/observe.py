"""Watching where orders went: order ids on the valid and invalid topics, and the metrics."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer

from schemas.records import (
    CustomerTotals,
    EnrichedOrder,
    InvalidOrder,
    OrderRelease,
    RegionRevenue,
    ValidOrder,
)
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.typed import RecordCodec

__all__ = ["RoutedOrders"]


class RoutedOrders:
    """Counts each order id on ``<prefix>.valid`` and ``<prefix>.invalid`` (committed only).

    Use as an async context manager and call :meth:`poll` repeatedly; ``ids`` then tells
    which orders arrived, and how often (more than once is a duplicate); ``enriched``
    counts the records of ``<prefix>.enriched`` (``orders`` keeps them); ``windows`` and
    ``totals`` hold the metrics (revenue per region and window, running totals per
    customer), ``late`` the number of orders that came too late for their revenue window
    (``late_ids`` which), and ``decided``, ``released`` and ``partial`` what the order
    checks made of them.
    """

    def __init__(self, bootstrap_servers: str, codec: AvroCodec, prefix: str) -> None:
        self._codecs: dict[str, RecordCodec[Any]] = {
            f"{prefix}.valid": RecordCodec(ValidOrder, codec, register=False),
            f"{prefix}.invalid": RecordCodec(InvalidOrder, codec, register=False),
        }
        self._enriched_topic = f"{prefix}.enriched"
        self._late_topic = f"{prefix}.revenue.late"
        self._enriched = RecordCodec(EnrichedOrder, codec, register=False)
        self._metrics: dict[str, RecordCodec[Any]] = {
            f"{prefix}.metrics.revenue": RecordCodec(RegionRevenue, codec, register=False),
            f"{prefix}.metrics.customers": RecordCodec(CustomerTotals, codec, register=False),
            f"{prefix}.released": RecordCodec(OrderRelease, codec, register=False),
        }
        self.windows: dict[tuple[str, str, int], RegionRevenue] = {}
        """(region, currency, window start ms) -> its closed window."""
        self.totals: dict[str, CustomerTotals] = {}
        """customer -> the latest running totals."""
        self.late = 0
        """Orders that missed their revenue window."""
        self.late_ids: Counter[str] = Counter()
        """Order id -> how many times it was found late."""
        self.orders: list[EnrichedOrder] = []
        """The enriched orders, in the order read."""
        self.decided = 0
        """Orders the checks decided on."""
        self.released = 0
        """Orders released: every check answered and passed."""
        self.partial = 0
        """Orders decided at the deadline with checks missing."""
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
            *self._metrics,
            self._enriched_topic,
            self._late_topic,
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
                    self.orders.append(self._enriched.decode(r.value, topic=r.topic))
                    continue
                if r.topic == self._late_topic:
                    self.late += 1
                    order = self._enriched.decode(r.value, topic=r.topic)
                    self.late_ids[str(order.order_id)] += 1
                    continue
                if r.topic in self._metrics:
                    self._metric(self._metrics[r.topic].decode(r.value, topic=r.topic))
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

    def _metric(self, record: RegionRevenue | CustomerTotals | OrderRelease) -> None:
        if isinstance(record, OrderRelease):
            self.decided += 1
            self.released += record.released
            self.partial += not record.complete
        elif isinstance(record, RegionRevenue):
            start = round(record.window_start.timestamp() * 1000)
            self.windows[(record.region, record.currency, start)] = record
        else:
            self.totals[record.customer_id] = record

    def revenue_truth(self, window_s: float) -> dict[tuple[str, str, int], tuple[int, int]]:
        """(region, currency, window start ms) -> (revenue cents, orders), recomputed from
        the enriched orders that were not found late, for windows of ``window_s``."""
        size = round(window_s * 1000)
        late = Counter(self.late_ids)
        truth: dict[tuple[str, str, int], tuple[int, int]] = {}
        for order in self.orders:
            if late[str(order.order_id)]:
                late[str(order.order_id)] -= 1
                continue
            at = round(order.ordered_at.timestamp() * 1000)
            key = (order.region, order.currency, at - at % size)
            cents, count = truth.get(key, (0, 0))
            truth[key] = (cents + order.amount_cents, count + 1)
        return truth

    @property
    def windowed_orders(self) -> int:
        """Orders counted in closed revenue windows."""
        return sum(w.order_count for w in self.windows.values())
