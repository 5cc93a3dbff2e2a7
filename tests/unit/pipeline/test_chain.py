"""Aggregations without boilerplate: derived result records, emits by field name, and the
chained form, which compiles to the same aggregation stage."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from streamworks import (
    AvroRecord,
    ConfigurationError,
    Count,
    Mean,
    Pipeline,
    TopicSpec,
    TopK,
    Tumbling,
    Window,
)
from streamworks.testing.driver import TestDriver


@dataclass(frozen=True)
class Reading(AvroRecord, namespace="chain"):
    device_id: str
    temp_c: float
    at: datetime


T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _pipeline() -> Pipeline:
    return Pipeline("iot", topics=[TopicSpec("iot.clean", Reading, external=True)])


def _feed(driver: TestDriver) -> None:
    """Device a: 10, 20 in the first minute, 40 in the second; device b: 5 in the first."""
    for device, temp, seconds in (("a", 10.0, 0), ("a", 20.0, 30), ("b", 5.0, 10), ("a", 40.0, 70)):
        driver.send("iot.clean", Reading(device, temp, T0 + timedelta(seconds=seconds)), key=device)


def _latest(rows: list[object]) -> dict[tuple[str, datetime], object]:
    """The last result per (key, window start): update mode emits one per record."""
    return {(r.key, r.window_start): r for r in rows}  # type: ignore[attr-defined]


async def test_a_chained_windowed_mean_and_count_write_a_derived_result() -> None:
    pipeline = _pipeline()
    stage = (
        pipeline.stream("iot.clean", Reading)
        .group_by(lambda r: r.device_id)
        .tumbling(60, grace=600)
        .agg(avg=Mean(of=lambda r: r.temp_c), n=Count())
        .to("iot.averages", event_time=lambda r: r.at)
    )
    assert stage.name == "averages"
    result_type = stage.outputs["iot.averages"]
    assert [f.name for f in dataclasses.fields(result_type)] == [  # type: ignore[arg-type]
        "key",
        "window_start",
        "window_end",
        "avg",
        "n",
    ]
    driver = TestDriver(pipeline)
    _feed(driver)
    await driver.run()
    latest = _latest(driver.read("iot.averages"))
    first = latest[("a", T0)]
    assert (first.avg, first.n, first.window_end) == (15.0, 2, T0 + timedelta(minutes=1))  # type: ignore[attr-defined]
    assert (latest[("b", T0)].avg, latest[("b", T0)].n) == (5.0, 1)  # type: ignore[attr-defined]
    assert latest[("a", T0 + timedelta(minutes=1))].n == 1  # type: ignore[attr-defined]


def test_the_chain_compiles_to_the_same_stage_as_the_call() -> None:
    chained, called = _pipeline(), _pipeline()
    (
        chained.stream("iot.clean", Reading)
        .group_by(lambda r: r.device_id)
        .tumbling(60)
        .agg(Count())
        .to("iot.counts", name="counts")
    )
    called.aggregate(
        "counts",
        inputs="iot.clean",
        input_type=Reading,
        key=lambda r: r.device_id,
        aggregator=Count(),
        window=Tumbling(60),
        output="iot.counts",
    )
    assert sorted(chained.stages) == sorted(called.stages) == ["counts", "counts.repartition"]
    assert sorted(chained.topics()) == sorted(called.topics())
    spec = chained.stages["counts"].aggregation
    assert spec is not None
    assert (spec.changelog, spec.late) == ("iot.counts.changelog", "iot.counts.late")
    chained.validate()


@dataclass(frozen=True)
class DeviceCount(AvroRecord, namespace="chain"):
    key: str
    value: int
    note: str = ""


async def test_an_output_class_of_ones_own_is_filled_by_field_name() -> None:
    pipeline = _pipeline()
    pipeline.stream("iot.clean", Reading).group_by(lambda r: r.device_id).agg(Count()).to(
        "iot.device_counts", output_type=DeviceCount
    )
    driver = TestDriver(pipeline)
    _feed(driver)
    await driver.run()
    assert driver.read("iot.device_counts")[-1] == DeviceCount("a", 3)


async def test_an_emit_without_a_window_takes_key_and_result() -> None:
    pipeline = _pipeline()
    pipeline.stream("iot.clean", Reading).group_by(lambda r: r.device_id).agg(Count()).to(
        "iot.device_counts",
        output_type=DeviceCount,
        emit=lambda key, count: DeviceCount(key, count, note="mine"),
    )
    driver = TestDriver(pipeline)
    _feed(driver)
    await driver.run()
    assert driver.read("iot.device_counts")[-1] == DeviceCount("a", 3, "mine")


def test_a_windowed_emit_must_take_the_window() -> None:
    pipeline = _pipeline()
    grouped = pipeline.stream("iot.clean", Reading).group_by(lambda r: r.device_id)
    with pytest.raises(ConfigurationError, match="windowed: its emit takes"):
        grouped.tumbling(60).agg(Count()).to(
            "iot.counts",
            output_type=DeviceCount,
            emit=lambda key, count: DeviceCount(key, count),  # noqa: PLW0108
        )

    def windowed(key: str, window: Window, count: int) -> DeviceCount:
        return DeviceCount(key, count, note=str(window.start_ms))  # a Window, never None

    grouped.tumbling(60).agg(Count()).to("iot.counts", output_type=DeviceCount, emit=windowed)


def test_an_aggregator_without_a_known_result_type_asks_for_an_output_type() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match=r"TopK.*output_type and an emit"):
        pipeline.stream("iot.clean", Reading).group_by(lambda r: r.device_id).agg(
            top=TopK(3, of=lambda r: (r.temp_c, r.device_id))
        ).to("iot.top")


def test_a_class_that_cannot_be_filled_by_name_asks_for_an_emit() -> None:
    @dataclass(frozen=True)
    class Odd(AvroRecord, namespace="chain"):
        device: str
        total: int

    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match="nothing gives device, total; give an emit"):
        pipeline.stream("iot.clean", Reading).group_by(lambda r: r.device_id).agg(Count()).to(
            "iot.odd", output_type=Odd
        )


def test_a_json_inputs_internal_topics_are_json_and_need_no_subject() -> None:
    pipeline = Pipeline(
        "iot", topics=[TopicSpec("iot.clean", Reading, external=True, format="json")]
    )
    pipeline.stream("iot.clean", Reading).group_by(lambda r: r.device_id).tumbling(60).agg(
        Count()
    ).to("iot.counts")
    topics = pipeline.topics()
    assert topics["iot.counts.repartition"].format == "json"
    assert topics["iot.counts.late"].format == "json"  # late records are the inputs, as read
    assert topics["iot.counts"].format == "avro"  # what the stage writes is declared apart
    assert sorted(pipeline.subjects()) == ["iot.counts-value"]
