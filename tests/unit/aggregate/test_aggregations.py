"""Aggregations through the in-memory test driver: every aggregator, window kind and mode."""

from __future__ import annotations

from typing import Any

import pytest

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
from tests.kit.builders import EPOCH_MS, millis, reading
from tests.kit.pipelines import total, window_count
from tests.kit.records import Reading, Total, Vote, WindowCount

IN = "readings"


def counting(
    window: WindowKind | None,
    *,
    mode: str = "final",
    partitions: int = 1,
    close_when_idle: float | None = None,
) -> Pipeline:
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, Reading, partitions, external=True)])
    pipeline.aggregate(
        "count",
        inputs=IN,
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=Count(),
        output="counts",
        output_type=WindowCount,
        emit=window_count,
        window=window,
        mode=mode,  # type: ignore[arg-type]
        event_time=lambda r: r.at,
        repartition=partitions > 1,
        close_when_idle=close_when_idle,
    )
    return pipeline


def emitted(driver: TestDriver) -> list[tuple[str, int, int, int]]:
    """(key, start, end, count) of every emitted window, times relative to EPOCH."""
    return [
        (r.key, millis(r.start) - EPOCH_MS, millis(r.end) - EPOCH_MS, r.count)
        for r in driver.read("counts")
    ]


async def test_tumbling_final_emits_each_window_once_when_it_closes() -> None:
    driver = TestDriver(counting(Tumbling(10)))
    for sensor, ms in [("a", 1_000), ("a", 2_000), ("b", 9_999), ("a", 10_000), ("b", 25_000)]:
        driver.send(IN, reading(sensor, ms), key=sensor)
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
    driver.send(IN, reading("a", 1_000), key="a")
    driver.send(IN, reading("a", 11_000), key="a")
    driver.send(IN, reading("a", 9_000), key="a")  # window 0-10 s still open: grace
    driver.send(IN, reading("a", 12_500), key="a")  # closes 0-10 s (10 + 2 <= 12.5)
    driver.send(IN, reading("a", 5_000), key="a")  # too late
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
    for ms in [1_000, 2_000, 3_000]:
        driver.send(IN, reading("a", ms), key="a")
    await driver.run()
    assert emitted(driver) == [("a", 0, 10_000, 1), ("a", 0, 10_000, 2), ("a", 0, 10_000, 3)]


async def test_hopping_windows_count_a_record_in_each_overlapping_window() -> None:
    driver = TestDriver(counting(Hopping(10, 5)))
    driver.send(IN, reading("a", 7_000), key="a")
    driver.send(IN, reading("a", 40_000), key="a")
    await driver.run()
    assert sorted(emitted(driver)) == [("a", 0, 10_000, 1), ("a", 5_000, 15_000, 1)]


async def test_sliding_windows_end_at_each_record_and_see_the_size_before_it() -> None:
    driver = TestDriver(counting(Sliding(10)))
    for ms in [1_000, 5_000, 12_000, 40_000]:
        driver.send(IN, reading("a", ms), key="a")
    await driver.run()
    assert emitted(driver) == [
        ("a", -9_000, 1_000, 1),
        ("a", -5_000, 5_000, 2),
        ("a", 2_000, 12_000, 2),  # (2 s, 12 s]: the records at 5 s and 12 s
    ]


async def test_session_windows_merge_records_less_than_a_gap_apart() -> None:
    driver = TestDriver(counting(Session(5, grace=15)))
    for ms in [1_000, 4_000, 20_000, 8_000, 60_000]:
        driver.send(IN, reading("a", ms), key="a")
    await driver.run()
    assert sorted(emitted(driver)) == [("a", 1_000, 8_001, 3), ("a", 20_000, 20_001, 1)]


async def test_a_record_bridging_two_sessions_merges_them() -> None:
    driver = TestDriver(counting(Session(5, grace=30)))
    for ms in [1_000, 10_000, 5_500, 100_000]:
        driver.send(IN, reading("a", ms), key="a")
    await driver.run()
    assert emitted(driver) == [("a", 1_000, 10_001, 3)]


async def test_running_totals_without_windows_via_combine() -> None:
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, Reading, 2, external=True)])
    pipeline.aggregate(
        "totals",
        inputs=IN,
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=Combine(
            {
                "count": Count(),
                "sum": Sum(of=lambda r: r.value),
                "last": Max(of=lambda r: millis(r.at)),
            }
        ),
        output="totals",
        output_type=Total,
        emit=total,
    )
    driver = TestDriver(pipeline)
    for n in range(6):
        sensor = "ab"[n % 2]
        driver.send(IN, reading(sensor, n * 1_000, value=100.0 * (n + 1)), key=str(n))
    await driver.run()
    latest = {t.key: t for t in driver.read("totals")}
    assert latest["a"] == Total("a", 3, 100 + 300 + 500)
    assert latest["b"] == Total("b", 3, 200 + 400 + 600)
    assert driver.table("totals", "b") == {"count": 3, "sum": 1200, "last": EPOCH_MS + 5000}
    assert len(driver.read("totals")) == 6
    # the repartition stage rekeyed the inputs, so all of a sensor's readings share a task
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
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, Reading, 1, external=True)])
    pipeline.aggregate(
        "count",
        inputs=IN,
        input_type=Reading,
        key=lambda r: {"a": "a"}[r.sensor],
        aggregator=Count(),
        output="counts",
        output_type=WindowCount,
        emit=window_count,
        window=Tumbling(10),
        event_time=lambda r: r.at,
        repartition=False,
    )
    driver = TestDriver(pipeline)
    driver.send(IN, reading("zzz", 1_000), key="zzz")
    driver.send(IN, b"\x00\x00\x00\x00\x07garbage", key="x")
    driver.send(IN, reading("a", 1_000), key="a")
    await driver.run()
    assert len(driver.dead_letters("count")) == 2
    assert driver.table("count", "a") == [(Window(EPOCH_MS, EPOCH_MS + 10_000), 1)]
    assert driver.counts["count"].balanced()


async def test_quiet_partitions_close_windows_on_the_wall_clock_when_asked() -> None:
    now = [1_000.0]
    driver = TestDriver(counting(Tumbling(10), close_when_idle=5), clock=lambda: now[0])
    driver.send(IN, reading("a", 1_000), key="a")
    await driver.run()
    await driver.tick()
    assert emitted(driver) == []  # not idle long enough
    now[0] += 20
    await driver.tick()
    assert emitted(driver) == [("a", 0, 10_000, 1)]


def test_declarations_that_cannot_work_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs a window"):
        counting(None, mode="final")
    pipeline = Pipeline("agg", topics=[TopicSpec(IN, Reading, 1, external=True)])
    with pytest.raises(ConfigurationError, match="merge"):
        pipeline.aggregate(
            "s",
            inputs=IN,
            input_type=Reading,
            key=lambda r: r.sensor,
            aggregator=Reduce(0, lambda s, v: s + 1),
            output="counts",
            output_type=WindowCount,
            emit=window_count,
            window=Session(5),
        )


async def test_a_gather_emits_once_complete_and_sends_a_straggler_to_the_late_topic() -> None:
    pipeline = Pipeline("g", topics=[TopicSpec("votes", Vote, 1, external=True)])
    decided: list[Gathered] = []

    def decide(subject: str, gathered: Gathered) -> Total:
        decided.append(gathered)
        yes = sum(1 for answer in gathered.answers.values() if answer)
        return Total(key=subject, count=len(gathered.answers), sum=yes)

    pipeline.gather(
        "gather",
        inputs="votes",
        input_type=Vote,
        correlation=lambda v: v.subject,
        answer=lambda v: v.voter,
        value=lambda v: v.yes,
        expected=("a", "b"),
        timeout=5,
        output="decisions",
        output_type=Total,
        emit=decide,
        repartition=False,
    )
    driver = TestDriver(pipeline)
    for subject, voter in (("one", "a"), ("two", "a"), ("one", "b")):
        driver.send("votes", Vote(subject, voter, True), key=subject)
    await driver.run()
    assert [(d.answers, d.missing) for d in decided] == [({"a": True, "b": True}, ())]
    driver.send("votes", Vote("one", "b", False), key="one")  # a straggler
    await driver.run()
    assert len(driver.messages("g.gather.late")) == 1
    assert driver.read("decisions") == [Total("one", 2, 2)]
