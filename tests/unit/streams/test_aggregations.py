"""Aggregations through the in-memory test driver: every aggregator, window kind and mode."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from schemas.records import CheckResult, CustomerTotals, EnrichedOrder, OrderRelease, WindowCount
from streamworks.core.errors import ConfigurationError
from streamworks.pipeline import (
    Combine,
    Count,
    DistinctCount,
    Hopping,
    Max,
    Mean,
    Min,
    Reduce,
    Session,
    Sliding,
    Sum,
    TopK,
    Tumbling,
    Window,
)
from streamworks.pipeline.gather import Gathered
from streamworks.pipeline.graph import Pipeline, TopicSpec
from streamworks.pipeline.windows import WindowKind
from streamworks.testing.driver import TestDriver
from tests.unit.streams.aggregation_helpers import (
    EPOCH_MS,
    order,
    ordered_at,
    totals,
    window_count,
)

IN = "orders.enriched"


def counting(window: WindowKind | None, *, mode: str = "final", partitions: int = 1) -> Pipeline:
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, EnrichedOrder, partitions, external=True)])
    pipeline.aggregate(
        "count",
        inputs=IN,
        input_type=EnrichedOrder,
        key=lambda o: o.customer_id,
        aggregator=Count(),
        output="counts",
        output_type=WindowCount,
        emit=window_count,
        window=window,
        mode=mode,  # type: ignore[arg-type]
        event_time=ordered_at,
        repartition=partitions > 1,
    )
    return pipeline


def emitted(driver: TestDriver) -> list[tuple[str, int, int, int]]:
    return [
        (
            r.key,
            round(r.window_start.timestamp() * 1000) - EPOCH_MS,
            round(r.window_end.timestamp() * 1000) - EPOCH_MS,
            r.count,
        )
        for r in driver.read("counts")
    ]


async def test_tumbling_final_emits_each_window_once_when_it_closes() -> None:
    driver = TestDriver(counting(Tumbling(10)))
    for n, (customer, ms) in enumerate(
        [("a", 1_000), ("a", 2_000), ("b", 9_999), ("a", 10_000), ("b", 25_000)]
    ):
        driver.send(IN, order(n, customer, ms), key=customer)
    await driver.run()
    assert sorted(emitted(driver)) == [
        ("a", 0, 10_000, 2),
        ("a", 10_000, 20_000, 1),
        ("b", 0, 10_000, 1),
    ]
    counts = driver.counts["count"]
    assert (counts.records_in, counts.out, counts.late) == (5, 5, 0)
    assert counts.balanced()


async def test_records_behind_the_grace_period_go_to_the_late_topic_with_reasons() -> None:
    driver = TestDriver(counting(Tumbling(10, grace=2)))
    driver.send(IN, order(1, "a", 1_000), key="a")
    driver.send(IN, order(2, "a", 11_000), key="a")
    driver.send(IN, order(3, "a", 9_000), key="a")  # window 0-10 s still open: grace
    driver.send(IN, order(4, "a", 12_500), key="a")  # closes 0-10 s (10 + 2 <= 12.5)
    driver.send(IN, order(5, "a", 5_000), key="a")  # too late
    await driver.run()
    assert emitted(driver) == [("a", 0, 10_000, 2)]
    late = driver.messages("agg.count.late")
    assert len(late) == 1
    headers = dict(late[0].headers)
    assert headers["streamworks.late.event.time"] == str(EPOCH_MS + 5_000).encode()
    assert headers["streamworks.late.origin.offset"] == b"4"
    counts = driver.counts["count"]
    assert (counts.out, counts.late) == (4, 1)
    assert counts.balanced()


async def test_update_mode_emits_every_change() -> None:
    driver = TestDriver(counting(Tumbling(10), mode="update"))
    for n, ms in enumerate([1_000, 2_000, 3_000]):
        driver.send(IN, order(n, "a", ms), key="a")
    await driver.run()
    assert emitted(driver) == [("a", 0, 10_000, 1), ("a", 0, 10_000, 2), ("a", 0, 10_000, 3)]


async def test_hopping_windows_count_a_record_in_each_overlapping_window() -> None:
    driver = TestDriver(counting(Hopping(10, 5)))
    driver.send(IN, order(1, "a", 7_000), key="a")
    driver.send(IN, order(2, "a", 40_000), key="a")
    await driver.run()
    assert sorted(emitted(driver)) == [("a", 0, 10_000, 1), ("a", 5_000, 15_000, 1)]


async def test_sliding_windows_end_at_each_record_and_see_the_size_before_it() -> None:
    driver = TestDriver(counting(Sliding(10)))
    for n, ms in enumerate([1_000, 5_000, 12_000, 40_000]):
        driver.send(IN, order(n, "a", ms), key="a")
    await driver.run()
    assert emitted(driver) == [
        ("a", -9_000, 1_000, 1),
        ("a", -5_000, 5_000, 2),
        ("a", 2_000, 12_000, 2),  # (2 s, 12 s]: the records at 5 s and 12 s
    ]


async def test_session_windows_merge_records_less_than_a_gap_apart() -> None:
    driver = TestDriver(counting(Session(5, grace=15)))
    for n, ms in enumerate([1_000, 4_000, 20_000, 8_000, 60_000]):
        driver.send(IN, order(n, "a", ms), key="a")
    await driver.run()
    assert sorted(emitted(driver)) == [("a", 1_000, 8_001, 3), ("a", 20_000, 20_001, 1)]


async def test_a_record_bridging_two_sessions_merges_them() -> None:
    driver = TestDriver(counting(Session(5, grace=30)))
    for n, ms in enumerate([1_000, 10_000, 5_500, 100_000]):
        driver.send(IN, order(n, "a", ms), key="a")
    await driver.run()
    assert emitted(driver) == [("a", 1_000, 10_001, 3)]


async def test_running_totals_without_windows_via_combine() -> None:
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, EnrichedOrder, 2, external=True)])
    pipeline.aggregate(
        "totals",
        inputs=IN,
        input_type=EnrichedOrder,
        key=lambda o: o.customer_id,
        aggregator=Combine(
            {
                "orders": Count(),
                "revenue": Sum(of=lambda o: o.amount_cents),
                "last": Max(of=lambda o: round(o.ordered_at.timestamp() * 1000)),
            }
        ),
        output="totals",
        output_type=CustomerTotals,
        emit=totals,
    )
    driver = TestDriver(pipeline)
    for n in range(6):
        customer = "ab"[n % 2]
        driver.send(IN, order(n, customer, n * 1_000, amount=100 * (n + 1)), key=str(n))
    await driver.run()
    latest = {t.customer_id: t for t in driver.read("totals")}
    assert latest["a"].order_count == 3
    assert latest["a"].revenue_cents == 100 + 300 + 500
    assert latest["b"].revenue_cents == 200 + 400 + 600
    assert driver.table("totals", "b") == {"orders": 3, "revenue": 1200, "last": EPOCH_MS + 5000}
    assert len(driver.read("totals")) == 6
    # the repartition stage rekeyed the inputs, so all of a customer's orders share a task
    assert {m.key for m in driver.messages("agg.totals.repartition")} == {b"a", b"b"}


@pytest.mark.parametrize(
    ("aggregator", "values", "expected"),
    [
        (Count(), [3, 1, 2], 3),
        (Sum(), [3, 1, 2], 6),
        (Min(), [3, 1, 2], 1),
        (Max(), [3, 1, 2], 3),
        (Mean(), [3, 1, 2], 2.0),
        (DistinctCount(), [3, 1, 3, 2, 1], 3),
        (TopK(2, of=lambda v: (v, f"item{v}")), [3, 1, 2], [("item3", 3), ("item2", 2)]),
        (Reduce([], lambda s, v: [*s, v]), [3, 1, 2], [3, 1, 2]),
    ],
)
def test_aggregators_fold_and_merge(aggregator: Any, values: list[int], expected: Any) -> None:
    state = aggregator.initial()
    for value in values:
        state = aggregator.add(state, aggregator.lift(value))
    assert aggregator.result(state) == expected
    if not isinstance(aggregator, Reduce):
        left, right = aggregator.initial(), aggregator.initial()
        for index, value in enumerate(values):
            if index % 2:
                left = aggregator.add(left, aggregator.lift(value))
            else:
                right = aggregator.add(right, aggregator.lift(value))
        assert aggregator.result(aggregator.merge(left, right)) == expected


async def test_a_record_the_key_function_rejects_is_dead_lettered_not_fatal() -> None:
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, EnrichedOrder, 1, external=True)])
    pipeline.aggregate(
        "count",
        inputs=IN,
        input_type=EnrichedOrder,
        key=lambda o: {"a": "a"}[o.customer_id],
        aggregator=Count(),
        output="counts",
        output_type=WindowCount,
        emit=window_count,
        window=Tumbling(10),
        event_time=ordered_at,
        repartition=False,
    )
    driver = TestDriver(pipeline)
    driver.send(IN, order(1, "zzz", 1_000), key="zzz")
    driver.send(IN, b"\x00\x00\x00\x00\x07garbage", key="x")
    driver.send(IN, order(2, "a", 1_000), key="a")
    await driver.run()
    assert len(driver.dead_letters("count")) == 2
    assert driver.table("count", "a") == [(Window(EPOCH_MS, EPOCH_MS + 10_000), 1)]
    assert driver.counts["count"].balanced()


async def test_quiet_partitions_close_windows_on_the_wall_clock_when_asked() -> None:
    now = [1_000.0]
    pipeline = counting(Tumbling(10))
    stage = pipeline.stages["count"]
    assert stage.aggregation is not None
    pipeline.stages["count"] = type(stage)(  # same stage, idle closing after 5 s
        **{
            **{f: getattr(stage, f) for f in stage.__dataclass_fields__},
            "aggregation": type(stage.aggregation)(
                **{
                    **{
                        f: getattr(stage.aggregation, f)
                        for f in stage.aggregation.__dataclass_fields__
                    },
                    "close_when_idle": 5.0,
                }
            ),
        }
    )
    driver = TestDriver(pipeline, clock=lambda: now[0])
    driver.send(IN, order(1, "a", 1_000), key="a")
    await driver.run()
    await driver.tick()
    assert emitted(driver) == []  # not idle long enough
    now[0] += 20
    await driver.tick()
    assert emitted(driver) == [("a", 0, 10_000, 1)]


def test_declarations_that_cannot_work_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs a window"):
        counting(None, mode="final")
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, EnrichedOrder, 1, external=True)])
    with pytest.raises(ConfigurationError, match="merge"):
        pipeline.aggregate(
            "s",
            inputs=IN,
            input_type=EnrichedOrder,
            key=lambda o: o.customer_id,
            aggregator=Reduce(0, lambda s, v: s + 1),
            output="counts",
            output_type=WindowCount,
            emit=window_count,
            window=Session(5),
        )


async def test_a_gather_emits_once_complete_and_sends_a_straggler_to_the_late_topic() -> None:
    pipeline = Pipeline("g", topics=[TopicSpec("answers", CheckResult, 1, external=True)])
    decided: list[Gathered] = []

    def decide(key: str, gathered: Gathered) -> OrderRelease:
        decided.append(gathered)
        return OrderRelease(UUID(key), gathered.complete, gathered.complete, datetime.now(UTC))

    pipeline.gather(
        "gather",
        inputs="answers",
        input_type=CheckResult,
        correlation=lambda r: str(r.order_id),
        answer=lambda r: r.check,
        value=lambda r: r.passed,
        expected=("a", "b"),
        timeout=5,
        output="decisions",
        output_type=OrderRelease,
        emit=decide,
        repartition=False,
    )
    driver = TestDriver(pipeline)
    one, two = UUID(int=1), UUID(int=2)
    at = datetime.now(UTC)
    for order_id, check in ((one, "a"), (two, "a"), (one, "b")):
        driver.send("answers", CheckResult(order_id, check, True, at), key=str(order_id))
    await driver.run()
    assert [(d.answers, d.missing) for d in decided] == [({"a": True, "b": True}, ())]
    driver.send("answers", CheckResult(one, "b", False, at), key=str(one))  # a straggler
    await driver.run()
    assert len(driver.messages("g.gather.late")) == 1
    assert len(driver.read("decisions")) == 1
