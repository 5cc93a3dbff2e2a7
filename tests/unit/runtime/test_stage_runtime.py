"""The stage runtime's guarantees, through the test driver: retries, order, batches, routing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from streamworks.core.errors import RetriableStageError
from streamworks.pipeline.graph import Pipeline, PipelineError, TopicSpec
from streamworks.pipeline.stage import RetryPolicy, To
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.testing.driver import TestDriver
from tests.kit.records import Label, Reading, Total

NOW = datetime(2026, 11, 26, tzinfo=UTC)
FAST = RetryPolicy(attempts=4, initial_backoff_s=0.001, max_backoff_s=0.01)


def _reading(n: int, sensor: str | None = None) -> Reading:
    """Reading number ``n`` (its value), of sensor ``s<n>`` unless named."""
    return Reading(sensor=sensor or f"s{n}", value=float(n), at=NOW)


def _tally(reading: Reading) -> Total:
    """An output that carries the reading's number, to see the order outputs came in."""
    return Total(key=reading.sensor, count=int(reading.value), sum=reading.value)


def _pipeline() -> Pipeline:
    return Pipeline("t", topics=[TopicSpec("in", Reading, 3, external=True)])


async def test_retriable_errors_are_retried_then_succeed() -> None:
    pipeline = _pipeline()
    failures = {"left": 2}

    @pipeline.stage("s", inputs="in", input_type=Reading, outputs={"out": Total}, retry=FAST)
    async def flaky(reading: Reading) -> Total:
        if failures["left"]:
            failures["left"] -= 1
            raise RetriableStageError("outside service is down")
        return _tally(reading)

    driver = TestDriver(pipeline)
    driver.send("in", _reading(1))
    await driver.run()
    assert driver.read("out") == [Total("s1", 1, 1.0)]
    assert driver.counts["s"].retries == 2
    assert driver.dead_letters("s") == []


async def test_exhausted_retries_and_plain_errors_are_dead_lettered_with_attempts() -> None:
    pipeline = _pipeline()

    @pipeline.stage("s", inputs="in", input_type=Reading, outputs={"out": Total}, retry=FAST)
    async def failing(reading: Reading) -> Total:
        if reading.sensor == "s1":
            raise RetriableStageError("still down")
        raise ValueError(f"cannot handle {reading.sensor}")

    driver = TestDriver(pipeline)
    driver.send("in", _reading(1))
    driver.send("in", _reading(2))
    await driver.run()
    first, second = driver.dead_letters("s")
    assert header(first.headers, DLQ_PREFIX + "attempts") == "4"
    assert (
        header(first.headers, DLQ_PREFIX + "error.class")
        == "streamworks.core.errors.RetriableStageError"
    )
    assert header(second.headers, DLQ_PREFIX + "attempts") == "1"
    assert header(second.headers, DLQ_PREFIX + "error.message") == "cannot handle s2"
    counts = driver.counts["s"]
    assert (counts.records_in, counts.dead_lettered, counts.out) == (2, 2, 0)
    assert counts.balanced()


async def test_concurrency_keeps_per_key_order() -> None:
    pipeline = _pipeline()
    rng = random.Random(5)

    @pipeline.stage("s", inputs="in", input_type=Reading, outputs={"out": Total}, concurrency=8)
    async def slow(reading: Reading) -> Total:
        await asyncio.sleep(rng.random() / 500)
        return _tally(reading)

    driver = TestDriver(pipeline, batch_size=200)
    for n in range(200):
        driver.send("in", _reading(n), key=f"k{n % 5}")
    await driver.run()
    outputs = list(zip(driver.messages("out"), driver.read("out"), strict=True))
    assert len(outputs) == 200
    for key in {m.key for m, _ in outputs}:
        sequence = [r.count for m, r in outputs if m.key == key]
        assert sequence == sorted(sequence), f"key {key!r} out of order"


async def test_filter_flat_map_and_explicit_routing() -> None:
    pipeline = _pipeline()

    @pipeline.stage("s", inputs="in", input_type=Reading, outputs={"a": Total, "b": Total})
    async def split(reading: Reading) -> list[To] | None:
        if int(reading.value) % 3 == 0:
            return None  # filtered
        return [To("a", _tally(reading)), To("b", _tally(reading), key="other")]

    driver = TestDriver(pipeline)
    for n in range(9):
        driver.send("in", _reading(n))
    await driver.run()
    assert [t.count for t in driver.read("a")] == [1, 2, 4, 5, 7, 8]
    assert [t.count for t in driver.read("b")] == [1, 2, 4, 5, 7, 8]
    assert {m.key for m in driver.messages("b")} == {b"other"}
    counts = driver.counts["s"]
    assert (counts.records_in, counts.out, counts.filtered, counts.records_written) == (9, 6, 3, 12)


async def test_a_batch_stage_isolates_a_failing_record() -> None:
    pipeline = _pipeline()
    calls: list[int] = []

    @pipeline.stage("s", inputs="in", input_type=Reading, outputs={"out": Total}, batch=True)
    async def batch(readings: list[Reading]) -> list[Total]:
        calls.append(len(readings))
        if any(r.sensor == "s3" for r in readings):
            raise ValueError("s3 is poison")
        return [_tally(r) for r in readings]

    driver = TestDriver(pipeline, batch_size=10)
    for n in range(10):
        driver.send("in", _reading(n))
    await driver.run()
    assert calls[0] == 10  # one call for the whole batch first
    assert sorted(t.count for t in driver.read("out")) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    [letter] = driver.dead_letters("s")
    assert header(letter.headers, DLQ_PREFIX + "error.message") == "s3 is poison"
    assert driver.counts["s"].balanced()


def test_validation_names_a_dangling_input() -> None:
    pipeline = Pipeline("p")

    @pipeline.stage("s", inputs="nowhere", input_type=Reading, outputs={"out": Total})
    async def stage(reading: Reading) -> None:
        return None

    with pytest.raises(PipelineError, match="stage s reads nowhere, which no stage produces"):
        pipeline.validate()


def test_validation_names_the_field_an_edge_cannot_resolve() -> None:
    pipeline = Pipeline("p", topics=[TopicSpec("raw", Reading, external=True)])

    @pipeline.stage("a", inputs="raw", input_type=Reading, outputs={"mid": Label})
    async def first(reading: Reading) -> None:
        return None

    @pipeline.stage("b", inputs="mid", input_type=Reading, outputs={"end": Reading})
    async def second(reading: Reading) -> None:
        return None

    with pytest.raises(PipelineError) as caught:
        pipeline.validate()
    message = str(caught.value)
    assert "stage a writes Label to mid, which stage b cannot read as Reading" in message
    assert "field 'value'" in message  # a reader field without default the writer lacks


async def test_repartition_by_routes_each_key_to_one_partition_in_order() -> None:
    pipeline = _pipeline()
    seen: list[tuple[str, int]] = []

    @pipeline.stage(
        "per-sensor",
        inputs="in",
        input_type=Reading,
        outputs={"out": Total},
        repartition_by=lambda reading: reading.sensor,
        concurrency=4,
    )
    async def per_sensor(reading: Reading) -> Total:
        seen.append((reading.sensor, int(reading.value)))
        return _tally(reading)

    assert list(pipeline.stages) == ["per-sensor.repartition", "per-sensor"]
    assert pipeline.stages["per-sensor"].inputs == ("t.per-sensor.repartition",)
    driver = TestDriver(pipeline)
    for n in range(60):  # keyed apart: a sensor's readings are spread over the input partitions
        driver.send("in", _reading(n, sensor=f"r{n % 4}"), key=f"k{n}")
    await driver.run()

    internal = driver.messages("t.per-sensor.repartition")
    partitions_per_sensor: dict[bytes | None, set[int]] = {}
    for message in internal:
        partitions_per_sensor.setdefault(message.key, set()).add(message.partition)
    assert len(partitions_per_sensor) == 4
    assert all(len(p) == 1 for p in partitions_per_sensor.values())
    for sensor in {s for s, _ in seen}:
        order = [n for s, n in seen if s == sensor]
        assert order == sorted(order)
    assert len(driver.read("out")) == 60
