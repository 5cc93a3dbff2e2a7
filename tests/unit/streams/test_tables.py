"""Global tables and stream-table joins through the in-memory driver: each missing-key policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from schemas.records import Customer, EnrichedOrder, Tier, ValidOrder
from streams.orders import enrich_order
from streamworks.pipeline.graph import Pipeline, TopicSpec
from streamworks.pipeline.stage import RetryPolicy
from streamworks.pipeline.tables import GlobalTable, OnMissing
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing.driver import TestDriver

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _order(customer: str) -> ValidOrder:
    return ValidOrder(
        order_id=uuid.UUID(int=len(customer)),
        customer_id=customer,
        sku="SKU-1",
        quantity=1,
        amount_cents=100,
        currency="EUR",
        ordered_at=NOW,
        source="generator",
        received_at=NOW,
    )


def _customer(customer: str, region: str) -> Customer:
    return Customer(
        customer_id=customer, name=customer, tier=Tier.GOLD, region=region, updated_at=NOW
    )


def _driver(policy: OnMissing) -> tuple[TestDriver, GlobalTable[Customer]]:
    table = GlobalTable("customers", Customer, on_missing=policy)
    pipeline = Pipeline(
        "join",
        topics=[
            TopicSpec("valid", ValidOrder, 1, external=True),
            TopicSpec("customers", Customer, 1, external=True),
        ],
    )

    @pipeline.stage(
        "enrich",
        inputs="valid",
        input_type=ValidOrder,
        outputs={"enriched": EnrichedOrder},
        tables=(table,),
        retry=RetryPolicy(attempts=3, initial_backoff_s=0.001),
    )
    async def enrich(order: ValidOrder) -> EnrichedOrder:
        customer = table.join(order.customer_id)
        facts = None if customer is None else (customer.tier, customer.region)
        return enrich_order(order, facts, NOW)

    return TestDriver(pipeline), table


async def test_the_join_uses_the_latest_record_per_key_and_forgets_deleted_keys() -> None:
    driver, table = _driver(OnMissing.DEFAULT)
    driver.send("customers", _customer("c1", "EU-WEST"), key="c1")
    driver.send("customers", _customer("c1", "APAC"), key="c1")  # a later update wins
    driver.send("customers", _customer("c2", "US-EAST"), key="c2")
    driver.send("customers", None, key="c2")  # a tombstone deletes
    driver.send("valid", _order("c1"))
    driver.send("valid", _order("c2"))
    await driver.run()
    enriched = {o.customer_id: o for o in driver.read("enriched")}
    assert (enriched["c1"].region, enriched["c1"].customer_tier) == ("APAC", Tier.GOLD)
    assert (enriched["c2"].region, enriched["c2"].customer_tier) == ("UNKNOWN", Tier.UNKNOWN)
    assert set(table.rows) == {"c1"}


@pytest.mark.parametrize(
    ("policy", "attempts", "retries"), [(OnMissing.DEAD_LETTER, "1", 0), (OnMissing.RETRY, "3", 2)]
)
async def test_a_missing_key_is_retried_or_dead_lettered_as_declared(
    policy: OnMissing, attempts: str, retries: int
) -> None:
    driver, _ = _driver(policy)
    driver.send("valid", _order("nobody"))
    await driver.run()
    assert driver.read("enriched") == []
    [letter] = driver.dead_letters("enrich")
    assert "MissingKeyError" in (header(letter.headers, DLQ_PREFIX + "error.class") or "")
    assert "no record for key 'nobody'" in (
        header(letter.headers, DLQ_PREFIX + "error.message") or ""
    )
    assert header(letter.headers, DLQ_PREFIX + "attempts") == attempts
    assert driver.counts["enrich"].retries == retries


async def test_a_key_that_arrives_while_retrying_is_joined() -> None:
    driver, table = _driver(OnMissing.RETRY)
    calls = 0
    original = table.join

    def join_after_first_miss(key: str) -> Customer | None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the customer record lands while the order is being retried
            table.rows[key] = _customer(key, "EU-NORTH")
        return original(key)

    table.join = join_after_first_miss  # type: ignore[method-assign]
    driver.send("valid", _order("late-customer"))
    await driver.run()
    [enriched] = driver.read("enriched")
    assert enriched.region == "EU-NORTH"
