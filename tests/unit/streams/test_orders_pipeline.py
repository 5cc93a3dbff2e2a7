"""The flagship stages through the in-memory test driver (no broker)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from schemas.records import EnrichedOrder, InvalidOrder, RawOrder, Tier, ValidOrder
from streams.orders import OrderGenerator, orders_pipeline
from streamworks.core.lineage import lineage_of, origins
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing.driver import TestDriver

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _driver(generator: OrderGenerator) -> TestDriver:
    driver = TestDriver(orders_pipeline(clock=lambda: NOW))
    for customer in generator.customers():
        driver.send("orders.customers", customer, key=customer.customer_id)
    return driver


async def test_every_generated_order_ends_valid_or_invalid_exactly_once() -> None:
    generator = OrderGenerator(seed=3)
    driver = _driver(generator)
    raw = list(generator.orders(2_000))
    for order in raw:
        driver.send("orders.raw", order, key=order.order_id)
    await driver.run()

    valid = driver.read("orders.valid")
    invalid = driver.read("orders.invalid")
    ids = [str(o.order_id) for o in valid] + [str(o.order.order_id) for o in invalid]
    assert sorted(ids) == sorted(o.order_id.strip().lower() for o in raw)
    assert len(driver.read("orders.enriched")) == len(valid)
    assert 0.75 < len(valid) / len(raw) < 0.95  # the generator's documented mix
    for name, counts in driver.counts.items():
        assert counts.balanced(), name
        assert counts.dead_lettered == 0, name


async def test_dirty_orders_are_repaired_not_rejected() -> None:
    generator = OrderGenerator()
    driver = _driver(generator)
    base = next(generator.orders(1))
    dirty = replace(
        base,
        order_id=f"  {base.order_id.upper()} ",
        sku=" sku-0001 ",
        amount="12,50",
        currency=" eur",
        ordered_at="1764144000000",
        customer_id="c-00001",
    )
    driver.send("orders.raw", dirty)
    await driver.run()
    [valid] = driver.read("orders.valid")
    assert str(valid.order_id) == base.order_id.lower()
    assert (valid.sku, valid.amount_cents, valid.currency) == ("SKU-0001", 1250, "EUR")
    assert valid.ordered_at == datetime(2025, 11, 26, 8, 0, tzinfo=UTC)
    [enriched] = driver.read("orders.enriched")
    assert isinstance(enriched, EnrichedOrder)
    assert enriched.region != "UNKNOWN"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"quantity": "0"}, "quantity must be between 1 and 1000, got 0"),
        ({"amount": "-5.00"}, "amount must be positive"),
        ({"amount": "1.005"}, "is not a number with at most two decimals"),
        ({"currency": "XXX"}, "currency XXX is not accepted"),
        ({"currency": "EURO"}, "is not a three-letter code"),
        ({"customer_id": "  "}, "customer_id is missing"),
        ({"ordered_at": "yesterday"}, "ordered_at 'yesterday' is not a time"),
        ({"ordered_at": "2031-01-01T00:00:00"}, "is not a plausible order time"),
        ({"quantity": "3.5"}, "quantity '3.5' is not a whole number"),
        ({"order_id": "not-a-uuid"}, "order_id 'not-a-uuid' is not a UUID"),
    ],
)
async def test_each_rule_failure_goes_to_invalid_with_its_reason(
    change: dict[str, str], reason: str
) -> None:
    generator = OrderGenerator()
    driver = _driver(generator)
    driver.send("orders.raw", replace(next(generator.orders(1)), **change))  # type: ignore[arg-type]
    await driver.run()
    assert driver.read("orders.valid") == []
    [invalid] = driver.read("orders.invalid")
    assert isinstance(invalid, InvalidOrder)
    assert any(reason in violation for violation in invalid.violations), invalid.violations


async def test_a_missing_customer_is_enriched_as_unknown() -> None:
    generator = OrderGenerator(customers=3)
    driver = _driver(generator)
    order = replace(next(generator.orders(1)), customer_id="c-00002")  # the missing one
    driver.send("orders.raw", order)
    await driver.run()
    [enriched] = driver.read("orders.enriched")
    assert (enriched.customer_tier, enriched.region) == (Tier.UNKNOWN, "UNKNOWN")


async def test_a_poison_record_is_dead_lettered_and_the_rest_flow_on() -> None:
    generator = OrderGenerator()
    driver = _driver(generator)
    orders = list(generator.orders(10))
    for order in orders[:5]:
        driver.send("orders.raw", order, key=order.order_id)
    driver.send("orders.raw", b"\x00\x00\x00\x00\x07garbage", key="poison")
    for order in orders[5:]:
        driver.send("orders.raw", order, key=order.order_id)
    await driver.run()

    [letter] = driver.dead_letters("clean")
    assert letter.value == b"\x00\x00\x00\x00\x07garbage"
    assert letter.key == b"poison"
    assert header(letter.headers, DLQ_PREFIX + "stage") == "clean"
    assert (
        header(letter.headers, DLQ_PREFIX + "error.class")
        == "streamworks.schemas.errors.ValueDecodeError"
    )
    assert header(letter.headers, DLQ_PREFIX + "origin.topic") == "orders.raw"
    assert header(letter.headers, DLQ_PREFIX + "origin.offset") == "5"
    assert header(letter.headers, DLQ_PREFIX + "attempts") == "0"
    assert "Traceback" in (header(letter.headers, DLQ_PREFIX + "error.traceback") or "")
    assert header(letter.headers, DLQ_PREFIX + "timestamp") is not None
    outputs = driver.read("orders.valid") + driver.read("orders.invalid")
    assert len(outputs) == 10
    clean = driver.counts["clean"]
    assert (clean.records_in, clean.out, clean.dead_lettered) == (11, 10, 1)


async def test_outputs_carry_lineage_headers() -> None:
    generator = OrderGenerator()
    driver = _driver(generator)
    order: RawOrder = next(generator.orders(1))
    driver.send("orders.raw", order)
    await driver.run()
    [message] = driver.messages("orders.clean")
    lineage = lineage_of(message.headers)
    assert lineage is not None
    pipeline = orders_pipeline()
    named = origins((stage.name, stage.inputs) for stage in pipeline.stages.values())
    assert named[lineage.origin] == ("clean", "orders.raw")
    assert (lineage.partition, lineage.offset) == (0, 0)
    assert message.key == order.order_id.encode()  # the clean stage keys by order id


async def test_valid_orders_are_keyed_by_customer_for_the_enrich_join() -> None:
    generator = OrderGenerator()
    driver = _driver(generator)
    for order in generator.orders(50):
        driver.send("orders.raw", order)
    await driver.run()
    for message, record in zip(
        driver.messages("orders.valid"), driver.read("orders.valid"), strict=True
    ):
        assert isinstance(record, ValidOrder)
        assert message.key == record.customer_id.encode()


async def test_invalid_orders_are_keyed_by_order_id() -> None:
    generator = OrderGenerator()
    driver = _driver(generator)
    for order in generator.orders(200):
        driver.send("orders.raw", order)
    await driver.run()
    invalid = list(
        zip(driver.messages("orders.invalid"), driver.read("orders.invalid"), strict=True)
    )
    assert invalid
    for message, record in invalid:
        assert message.key == str(record.order.order_id).encode()


async def test_parallel_checks_release_orders_and_name_what_is_missing_at_the_deadline() -> None:
    now = [1_000.0]
    generator = OrderGenerator(seed=5)
    pipeline = orders_pipeline(clock=lambda: NOW)
    driver = TestDriver(pipeline, clock=lambda: now[0])
    for customer in generator.customers():
        driver.send("orders.customers", customer, key=customer.customer_id)
    raw = list(generator.orders(400))
    for order in raw:
        driver.send("orders.raw", order, key=order.order_id)
    await driver.run()
    enriched = {str(o.order_id): o for o in driver.read("orders.enriched")}
    released = {str(r.order_id): r for r in driver.read("orders.released")}
    unknown = {oid for oid, o in enriched.items() if o.region == "UNKNOWN"}
    assert unknown  # the generator's missing customer: no shipping carrier answers
    assert set(released) == set(enriched) - unknown  # complete gathers emit at once

    now[0] += 10  # past the 5 s deadline: the quiet partitions close on the wall clock
    await driver.tick()
    await driver.tick()
    released = {str(r.order_id): r for r in driver.read("orders.released")}
    assert set(released) == set(enriched)
    for oid, decision in released.items():
        order = enriched[oid]
        if oid in unknown:
            assert (decision.complete, decision.released) == (False, False)
            assert decision.missing == ("shipping",)
            continue
        should_fail = tuple(
            name
            for name, failed in (
                ("fraud", order.amount_cents > 40_000 and order.customer_tier is not Tier.GOLD),
                ("stock", order.quantity > 4),
            )
            if failed
        )
        assert decision.complete
        assert decision.failed == should_fail
        assert decision.released == (not should_fail)
        assert len(decision.details) == 3
    assert len(driver.read("orders.released")) == len(released)  # each decided once
    assert driver.messages("orders.release.late") == []


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
