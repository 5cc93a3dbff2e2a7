"""Fan-in on the real broker: the customers join, revenue windows, running totals, restores."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas.records import (
    CustomerTotals,
    EnrichedOrder,
    OrderRelease,
    RawOrder,
    RegionRevenue,
    Tier,
)
from streams.orders import OrderGenerator, orders_pipeline
from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint, consume_until, produce, unique_name
from tests.integration.streams.agg_app import totals_pipeline
from tests.integration.streams.kit import (
    decode_all,
    latest_totals,
    publish_customers,
    revenue_truth,
    revenue_windows,
    totals_truth,
    workers,
)
from tests.unit.streams.aggregation_helpers import order


@pytest.mark.timeout(300)
async def test_the_flagship_joins_customers_and_emits_exact_revenue_and_totals(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap_servers
    settings = Settings(bootstrap_servers=bootstrap, registry_url=registry_url, state_dir=tmp_path)
    prefix = unique_name("fanin")
    env = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap,
        "STREAMWORKS_REGISTRY_URL": registry_url,
        "STREAMWORKS_STATE_DIR": str(tmp_path / "state"),
        "STREAMWORKS_ORDERS_PREFIX": prefix,
        "STREAMWORKS_ORDERS_CLOSE_WHEN_IDLE": "2",
    }
    pipeline = orders_pipeline(prefix=prefix, name=prefix)
    await ensure_topics(pipeline, settings)
    generator = OrderGenerator(seed=21)
    directory = generator.customer_directory()
    await publish_customers(bootstrap, registry_url, f"{prefix}.customers", generator.customers())
    raw = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry_url)), subject=f"{prefix}.raw-value"
    )
    orders = list(generator.orders(3_000))
    await produce(
        bootstrap, f"{prefix}.raw", [(o.order_id.encode(), raw.encode(o)) for o in orders]
    )

    # one process per stage, supervised, as `streamworks run` does it
    supervisor = Supervisor("orders", dict.fromkeys(pipeline.stages, 1), env=env, log_dir=tmp_path)
    supervisor.start()
    try:
        routed = await consume_until(
            bootstrap,
            [f"{prefix}.valid", f"{prefix}.invalid"],
            until=lambda s: len(s) >= len(orders),  # every order routed (exactly once)
            timeout=120,
        )
        valid = [r for r in routed if r.topic == f"{prefix}.valid"]
        enriched_records = await consume_until(
            bootstrap, f"{prefix}.enriched", until=lambda s: len(s) >= len(valid), timeout=120
        )
        enriched = decode_all(registry_url, EnrichedOrder, enriched_records)

        def settled(seen: Sequence[ConsumerRecord[bytes, bytes]]) -> bool:
            windows = decode_all(
                registry_url, RegionRevenue, [r for r in seen if r.topic.endswith("revenue")]
            )
            late = [r for r in seen if r.topic.endswith(".late")]
            return bool(sum(w.order_count for w in windows) + len(late) >= len(enriched))

        seen = await consume_until(
            bootstrap,
            [f"{prefix}.metrics.revenue", f"{prefix}.revenue.late"],
            until=settled,
            timeout=120,
        )
        released_records = await consume_until(
            bootstrap,
            f"{prefix}.released",
            until=lambda s: len(s) >= len(enriched),
            timeout=60,
        )
        totals_records = await consume_until(
            bootstrap,
            f"{prefix}.metrics.customers",
            until=lambda s: len(s) >= len(enriched),
            timeout=60,
        )

    finally:
        supervisor.stop()

    # the join: every enriched order carries its customer's tier and region (or UNKNOWN)
    for o in enriched:
        tier, region = directory.get(o.customer_id, (Tier.UNKNOWN, "UNKNOWN"))
        assert (o.customer_tier, o.region) == (tier, region), o.customer_id
    assert any(o.region == "UNKNOWN" for o in enriched)  # the generator's missing customer

    windows = decode_all(
        registry_url, RegionRevenue, [r for r in seen if r.topic.endswith("revenue")]
    )
    late = decode_all(registry_url, EnrichedOrder, [r for r in seen if r.topic.endswith(".late")])
    assert revenue_windows(windows) == revenue_truth(enriched, late)
    totals_emitted = decode_all(registry_url, CustomerTotals, totals_records)
    assert latest_totals(totals_emitted) == totals_truth(enriched)

    # scatter-gather: every order decided once; no shipping answer for unknown regions
    decisions = decode_all(registry_url, OrderRelease, released_records)
    assert sorted(d.order_id for d in decisions) == sorted(o.order_id for o in enriched)
    regions = {o.order_id: o.region for o in enriched}
    for d in decisions:
        if regions[d.order_id] == "UNKNOWN":
            assert (d.complete, d.missing) == (False, ("shipping",))
        else:
            assert d.complete
            assert d.released == (not d.failed)


async def test_state_is_restored_from_the_changelog_after_wiped_or_stale_local_state(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap_servers
    settings = Settings(
        bootstrap_servers=bootstrap,
        registry_url=registry_url,
        state_dir=tmp_path / "state",
        guarantee="exactly-once",
    )
    name = unique_name("restore")
    pipeline = totals_pipeline(name)
    await ensure_topics(pipeline, settings)
    codec = RecordCodec(
        EnrichedOrder, AvroCodec(RegistryClient(registry_url)), subject=f"{name}.in-value"
    )
    sent: list[EnrichedOrder] = []

    async def phase(first: int, count: int) -> list[AggregationWorker]:
        batch = [order(n, f"c{n % 13}", n, amount=n) for n in range(first, first + count)]
        sent.extend(batch)
        await produce(
            bootstrap, f"{name}.in", [(o.customer_id.encode(), codec.encode(o)) for o in batch]
        )
        async with workers(
            pipeline, settings, per_stage=1, stages=["totals", "totals.repartition"]
        ) as pool:
            await consume_until(
                bootstrap,
                f"{name}.out",
                until=lambda s: len(s) >= len(sent),
                timeout=90,
                isolation_level="read_committed",
            )
        return [w for w in pool if isinstance(w, AggregationWorker)]

    state = settings.state_dir / f"{name}.totals"
    first = await phase(0, 300)
    assert [r.records for r in first[0].restores] == [0, 0]  # empty changelogs
    stale = tmp_path / "stale"
    shutil.copytree(state, stale)

    second = await phase(300, 300)
    assert all(r.start > 0 for r in second[0].restores)  # resumed from its checkpoint
    shutil.rmtree(state)  # wiped local state: rebuilt from the changelog's start
    third = await phase(600, 300)
    assert sum(r.records for r in third[0].restores) > 0
    shutil.rmtree(state)
    shutil.copytree(stale, state)  # stale local state: caught up from its old checkpoint
    fourth = await phase(900, 300)
    assert fourth[0].restores[-1].records > 0

    out = await consume_until(bootstrap, f"{name}.out", count=len(sent), timeout=30)
    assert len(out) == len(sent)  # exactly one update per order, across four workers
    last: dict[str, tuple[int, int]] = {}
    for result in decode_all(registry_url, CustomerTotals, out):
        last[result.customer_id] = (result.order_count, result.revenue_cents)
    assert last == totals_truth(sent)
