"""The flagship's fan-in on the real broker, one supervised process per stage: the customers
join, exact revenue windows (none late: the orders' times are in order as written) and
running totals, and the order checks' decisions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import ConsumerRecord

from schemas.records import (
    CustomerTotals,
    EnrichedOrder,
    OrderRelease,
    RegionRevenue,
    Tier,
)
from streams.orders import OrderGenerator, orders_pipeline
from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import KafkaEndpoint, consume_until, unique_name
from tests.integration.workers import decode_all, produce_records

WindowKey = tuple[str, str, int]
"""(region, currency, window start ms)."""
WINDOW_S = 10
"""Revenue windows of ten seconds, so the last one closes soon after the input stops."""


def _window(order: EnrichedOrder) -> int:
    ms = round(order.ordered_at.timestamp() * 1000)
    size = WINDOW_S * 1000
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
        key = (order.region, order.currency, _window(order))
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
        "STREAMWORKS_ORDERS_REVENUE_WINDOW": str(WINDOW_S),
        "STREAMWORKS_ORDERS_REVENUE_GRACE": "5",
    }
    pipeline = orders_pipeline(prefix=prefix, name=prefix, revenue_window=WINDOW_S, revenue_grace=5)
    await ensure_topics(pipeline, settings)
    # order times from now, about 1 ms apart: a live feed's pace, in order per partition
    generator = OrderGenerator(seed=21, start=datetime.now(UTC), gap_ms=(0, 2))
    directory = generator.customer_directory()
    customers = generator.customers()
    await produce_records(settings, f"{prefix}.customers", customers, key=lambda c: c.customer_id)
    orders = list(generator.orders(3_000))
    await produce_records(settings, f"{prefix}.raw", orders, key=lambda o: o.order_id)

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
    assert late == []  # the repartition's partitions move in step: none looks late
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
