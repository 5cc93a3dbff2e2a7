"""The stage runtime's guarantees, through the test driver: retries, order, batches, routing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from schemas.records import CleanOrder, Customer, RawOrder, RegionRevenue, Tier, ValidOrder
from streams.orders import orders_pipeline
from streamworks.core.errors import RetriableStageError
from streamworks.pipeline.graph import Pipeline, PipelineError, TopicSpec
from streamworks.pipeline.stage import RetryPolicy, To
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing.driver import TestDriver

NOW = datetime(2026, 11, 26, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, initial_backoff_s=0.001, max_backoff_s=0.01)


def _customer(n: int, region: str = "EU") -> Customer:
    return Customer(
        customer_id=f"c{n}", name=f"n{n}", region=region, updated_at=NOW, tier=Tier.GOLD
    )


def _revenue(customer: Customer, cents: int = 1) -> RegionRevenue:
    return RegionRevenue(
        region=customer.region,
        currency="EUR",
        window_start=NOW,
        window_end=NOW,
        revenue_cents=cents,
        order_count=int(customer.customer_id[1:]),
    )


def _pipeline() -> Pipeline:
    return Pipeline("t", topics=[TopicSpec("in", Customer, 3, external=True)])


async def test_retriable_errors_are_retried_then_succeed() -> None:
    pipeline = _pipeline()
    failures = {"left": 2}

    @pipeline.stage(
        "s", inputs="in", input_type=Customer, outputs={"out": RegionRevenue}, retry=FAST
    )
    async def flaky(customer: Customer) -> RegionRevenue:
        if failures["left"]:
            failures["left"] -= 1
            raise RetriableStageError("outside service is down")
        return _revenue(customer)

    driver = TestDriver(pipeline)
    driver.send("in", _customer(1))
    await driver.run()
    assert len(driver.read("out")) == 1
    assert driver.counts["s"].retries == 2
    assert driver.dead_letters("s") == []


async def test_exhausted_retries_and_plain_errors_are_dead_lettered_with_attempts() -> None:
    pipeline = _pipeline()

    @pipeline.stage(
        "s", inputs="in", input_type=Customer, outputs={"out": RegionRevenue}, retry=FAST
    )
    async def failing(customer: Customer) -> RegionRevenue:
        if customer.customer_id == "c1":
            raise RetriableStageError("still down")
        raise ValueError(f"cannot handle {customer.customer_id}")

    driver = TestDriver(pipeline)
    driver.send("in", _customer(1))
    driver.send("in", _customer(2))
    await driver.run()
    first, second = driver.dead_letters("s")
    assert header(first.headers, DLQ_PREFIX + "attempts") == "4"
    assert (
        header(first.headers, DLQ_PREFIX + "error.class")
        == "streamworks.core.errors.RetriableStageError"
    )
    assert header(second.headers, DLQ_PREFIX + "attempts") == "1"
    assert header(second.headers, DLQ_PREFIX + "error.message") == "cannot handle c2"
    counts = driver.counts["s"]
    assert (counts.records_in, counts.dead_lettered, counts.out) == (2, 2, 0)
    assert counts.balanced()


async def test_concurrency_keeps_per_key_order() -> None:
    pipeline = _pipeline()
    rng = random.Random(5)

    @pipeline.stage(
        "s", inputs="in", input_type=Customer, outputs={"out": RegionRevenue}, concurrency=8
    )
    async def slow(customer: Customer) -> RegionRevenue:
        await asyncio.sleep(rng.random() / 500)
        return _revenue(customer)

    driver = TestDriver(pipeline, batch_size=200)
    for n in range(200):
        driver.send("in", _customer(n, region=f"r{n % 5}"), key=f"k{n % 5}")
    await driver.run()
    outputs = list(zip(driver.messages("out"), driver.read("out"), strict=True))
    assert len(outputs) == 200
    for key in {m.key for m, _ in outputs}:
        sequence = [r.order_count for m, r in outputs if m.key == key]
        assert sequence == sorted(sequence), f"key {key!r} out of order"


async def test_filter_flat_map_and_explicit_routing() -> None:
    pipeline = _pipeline()

    @pipeline.stage(
        "s",
        inputs="in",
        input_type=Customer,
        outputs={"a": RegionRevenue, "b": RegionRevenue},
    )
    async def split(customer: Customer) -> list[To] | None:
        n = int(customer.customer_id[1:])
        if n % 3 == 0:
            return None  # filtered
        return [To("a", _revenue(customer)), To("b", _revenue(customer), key="other")]

    driver = TestDriver(pipeline)
    for n in range(9):
        driver.send("in", _customer(n))
    await driver.run()
    assert len(driver.read("a")) == len(driver.read("b")) == 6
    assert {m.key for m in driver.messages("b")} == {b"other"}
    counts = driver.counts["s"]
    assert (counts.records_in, counts.out, counts.filtered, counts.records_written) == (9, 6, 3, 12)


async def test_a_batch_stage_isolates_a_failing_record() -> None:
    pipeline = _pipeline()
    calls: list[int] = []

    @pipeline.stage(
        "s", inputs="in", input_type=Customer, outputs={"out": RegionRevenue}, batch=True
    )
    async def batch(customers: list[Customer]) -> list[RegionRevenue]:
        calls.append(len(customers))
        if any(c.customer_id == "c3" for c in customers):
            raise ValueError("c3 is poison")
        return [_revenue(c) for c in customers]

    driver = TestDriver(pipeline, batch_size=10)
    for n in range(10):
        driver.send("in", _customer(n))
    await driver.run()
    assert calls[0] == 10  # one call for the whole batch first
    assert len(driver.read("out")) == 9
    [letter] = driver.dead_letters("s")
    assert header(letter.headers, DLQ_PREFIX + "error.message") == "c3 is poison"
    assert driver.counts["s"].balanced()


def test_validation_names_a_dangling_input() -> None:
    pipeline = Pipeline("p")

    @pipeline.stage("s", inputs="nowhere", input_type=Customer, outputs={"out": RegionRevenue})
    async def stage(customer: Customer) -> None:
        return None

    with pytest.raises(PipelineError, match="stage s reads nowhere, which no stage produces"):
        pipeline.validate()


def test_validation_names_the_field_an_edge_cannot_resolve() -> None:
    pipeline = Pipeline("p", topics=[TopicSpec("raw", RawOrder, external=True)])

    @pipeline.stage("a", inputs="raw", input_type=RawOrder, outputs={"mid": CleanOrder})
    async def first(order: RawOrder) -> None:
        return None

    @pipeline.stage("b", inputs="mid", input_type=ValidOrder, outputs={"end": ValidOrder})
    async def second(order: ValidOrder) -> None:
        return None

    with pytest.raises(PipelineError) as caught:
        pipeline.validate()
    message = str(caught.value)
    assert "stage a writes CleanOrder to mid, which stage b cannot read as ValidOrder" in message
    assert "amount_cents" in message


def test_the_flagship_pipeline_is_valid() -> None:
    pipeline = orders_pipeline()
    pipeline.validate()
    assert [s.name for s in pipeline.order()] == [
        "clean",
        "format",
        "validate",
        "enrich",
        "revenue.repartition",
        "revenue",
        "totals",
        "checks",
        "stock",
        "fraud",
        "shipping",
        "release",
    ]
    topics = pipeline.topics()
    assert "orders.validate.dlq" in topics
    assert topics["orders.revenue.changelog"].config == {"cleanup.policy": "compact"}
    assert topics["orders.customers"].config == {"cleanup.policy": "compact"}


async def test_repartition_by_routes_each_key_to_one_partition_in_order() -> None:
    pipeline = _pipeline()
    seen: list[tuple[str, int]] = []

    @pipeline.stage(
        "per-region",
        inputs="in",
        input_type=Customer,
        outputs={"out": RegionRevenue},
        repartition_by=lambda customer: customer.region,
        concurrency=4,
    )
    async def per_region(customer: Customer) -> RegionRevenue:
        seen.append((customer.region, int(customer.customer_id[1:])))
        return _revenue(customer)

    assert list(pipeline.stages) == ["per-region.repartition", "per-region"]
    assert pipeline.stages["per-region"].inputs == ("t.per-region.repartition",)
    driver = TestDriver(pipeline)
    for n in range(60):  # keyed by customer: regions are spread over the input partitions
        driver.send("in", _customer(n, region=f"r{n % 4}"), key=f"c{n}")
    await driver.run()

    internal = driver.messages("t.per-region.repartition")
    partitions_per_region: dict[bytes | None, set[int]] = {}
    for message in internal:
        partitions_per_region.setdefault(message.key, set()).add(message.partition)
    assert all(len(p) == 1 for p in partitions_per_region.values())
    for region in {r for r, _ in seen}:
        order = [n for r, n in seen if r == region]
        assert order == sorted(order)
    assert len(driver.read("out")) == 60
