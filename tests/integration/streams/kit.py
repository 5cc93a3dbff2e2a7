"""In-process worker pools and the batch truth of the flagship's aggregations."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from aiokafka import ConsumerRecord

from schemas.records import Customer, CustomerTotals, EnrichedOrder, RawOrder, RegionRevenue
from streams.orders import OrderGenerator
from streams.orders.pipeline import REVENUE_WINDOW_S, orders_pipeline
from streamworks.core.settings import Settings
from streamworks.ops.runner import worker_for
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.stats import StatsPublisher
from streamworks.runtime.topics import ensure_topics
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import produce

__all__ = [
    "decode_all",
    "flagship_with_orders",
    "latest_totals",
    "publish_customers",
    "publishing_workers",
    "revenue_truth",
    "revenue_windows",
    "totals_truth",
    "workers",
]

WindowKey = tuple[str, str, int]


@asynccontextmanager
async def workers(
    pipeline: Pipeline, settings: Settings, per_stage: int, stages: Iterable[str] | None = None
) -> AsyncIterator[list[StageWorker]]:
    """``per_stage`` in-process workers for every stage, stopped (and committed) on exit."""
    pool = [
        worker_for(pipeline, stage, settings, AvroCodec(RegistryClient(settings.registry_url)))
        for stage in (pipeline.stages if stages is None else stages)
        for _ in range(per_stage)
    ]
    tasks = [asyncio.create_task(w.run()) for w in pool]
    try:
        yield pool
    finally:
        for worker in pool:
            worker.stop()
        await asyncio.gather(*tasks)


@asynccontextmanager
async def publishing_workers(
    pipeline: Pipeline, settings: Settings, stage: str, count: int
) -> AsyncIterator[list[StageWorker]]:
    """``count`` workers of ``stage`` that publish their stats, as ``streamworks worker`` does."""
    async with workers(pipeline, settings, per_stage=count, stages=[stage]) as pool:
        async with AsyncExitStack() as publishing:
            for number, worker in enumerate(pool):
                stats = StatsPublisher(
                    settings,
                    worker.counts,
                    pipeline=pipeline.name,
                    stage=stage,
                    worker=f"{stage}-{number}",
                    interval=0.5,
                )
                await stats.start()
                publishing.push_async_callback(stats.stop)
            yield pool


async def flagship_with_orders(
    settings: Settings, prefix: str, count: int, *, seed: int
) -> Pipeline:
    """The flagship on topics of its own (``<prefix>.*``) with ``count`` raw orders in."""
    pipeline = orders_pipeline(prefix=prefix, name=prefix)
    await ensure_topics(pipeline, settings)
    codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(settings.registry_url)), subject=f"{prefix}.raw-value"
    )
    orders = OrderGenerator(seed=seed).orders(count)
    records = [(o.order_id.encode(), codec.encode(o)) for o in orders]
    await produce(settings.bootstrap_servers, f"{prefix}.raw", records)
    return pipeline


def decode_all(
    registry: str, kind: type[Any], records: Iterable[ConsumerRecord[bytes, bytes]]
) -> list[Any]:
    """Decode every record's value as ``kind``."""
    codec = RecordCodec(kind, AvroCodec(RegistryClient(registry)), register=False)
    return [codec.decode(r.value) for r in records]


async def publish_customers(
    bootstrap: str, registry: str, topic: str, customers: list[Customer]
) -> None:
    """Write the customer directory to its compacted topic."""
    codec = RecordCodec(Customer, AvroCodec(RegistryClient(registry)), subject=f"{topic}-value")
    await produce(bootstrap, topic, [(c.customer_id.encode(), codec.encode(c)) for c in customers])


def _minute(order: EnrichedOrder) -> int:
    ms = round(order.ordered_at.timestamp() * 1000)
    size = REVENUE_WINDOW_S * 1000
    return ms - ms % size


def revenue_truth(
    enriched: list[EnrichedOrder], late: list[EnrichedOrder]
) -> dict[WindowKey, tuple[int, int]]:
    """(region, currency, window start) -> (revenue, orders) of the orders not found late."""
    late_ids = Counter(o.order_id for o in late)
    truth: dict[WindowKey, tuple[int, int]] = {}
    for order in enriched:
        if late_ids[order.order_id]:
            late_ids[order.order_id] -= 1
            continue
        key = (order.region, order.currency, _minute(order))
        revenue, count = truth.get(key, (0, 0))
        truth[key] = (revenue + order.amount_cents, count + 1)
    return truth


def revenue_windows(results: list[RegionRevenue]) -> dict[WindowKey, tuple[int, int]]:
    """The emitted windows; raises if one was emitted twice."""
    found: dict[WindowKey, tuple[int, int]] = {}
    for r in results:
        key = (r.region, r.currency, round(r.window_start.timestamp() * 1000))
        assert key not in found, f"window {key} emitted twice"
        found[key] = (r.revenue_cents, r.order_count)
    return found


def totals_truth(enriched: list[EnrichedOrder]) -> dict[str, tuple[int, int]]:
    """customer -> (orders, revenue)."""
    truth: dict[str, tuple[int, int]] = {}
    for order in enriched:
        count, revenue = truth.get(order.customer_id, (0, 0))
        truth[order.customer_id] = (count + 1, revenue + order.amount_cents)
    return truth


def latest_totals(results: list[CustomerTotals]) -> dict[str, tuple[int, int]]:
    """customer -> (orders, revenue) of the highest running total seen per customer."""
    latest: dict[str, tuple[int, int]] = {}
    for r in results:
        current = latest.get(r.customer_id, (0, 0))
        latest[r.customer_id] = max(current, (r.order_count, r.revenue_cents))
    return latest
