"""Record types said once: a stage's input and output types come from its annotations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from streamworks import AvroRecord, ConfigurationError, Pipeline, TopicSpec
from streamworks.testing.driver import TestDriver


@dataclass(frozen=True)
class Reading(AvroRecord, namespace="infer"):
    sensor: str
    value: float
    at: datetime


@dataclass(frozen=True)
class Hot(AvroRecord, namespace="infer"):
    sensor: str
    value: float


@dataclass(frozen=True)
class Cold(AvroRecord, namespace="infer"):
    sensor: str


AT = datetime(2026, 1, 1, tzinfo=UTC)


def _pipeline() -> Pipeline:
    return Pipeline("infer", topics=[TopicSpec("readings", Reading, external=True)])


async def test_one_output_takes_the_returned_class_and_the_input_the_parameters() -> None:
    pipeline = _pipeline()

    @pipeline.stage("hot", inputs="readings", outputs="hot")
    async def hot(reading: Reading) -> Hot | None:
        return Hot(reading.sensor, reading.value) if reading.value > 30 else None

    stage = pipeline.stages["hot"]
    assert (stage.input_type, stage.outputs) == (Reading, {"hot": Hot})
    pipeline.validate()
    driver = TestDriver(pipeline)
    for n, value in enumerate((10.0, 35.0, 40.0)):
        driver.send("readings", Reading(f"s{n}", value, AT), key=f"s{n}")
    await driver.run()
    assert driver.read("hot") == [Hot("s1", 35.0), Hot("s2", 40.0)]


def test_a_batch_stage_reads_the_item_type_of_its_list() -> None:
    pipeline = _pipeline()

    @pipeline.stage("many", inputs="readings", outputs="hot", batch=True)
    async def many(readings: list[Reading]) -> list[Hot]:
        return [Hot(r.sensor, r.value) for r in readings]

    assert (pipeline.stages["many"].input_type, pipeline.stages["many"].outputs) == (
        Reading,
        {"hot": Hot},
    )


def test_explicit_types_still_win() -> None:
    pipeline = _pipeline()

    @pipeline.stage(
        "split", inputs="readings", input_type=Reading, outputs={"hot": Hot, "cold": Cold}
    )
    async def split(reading):  # type: ignore[no-untyped-def]  # a user who annotates nothing
        return Hot(reading.sensor, reading.value) if reading.value > 30 else Cold(reading.sensor)

    assert pipeline.stages["split"].outputs == {"hot": Hot, "cold": Cold}


def test_an_unannotated_parameter_asks_for_an_annotation() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match="annotate the record parameter of bare"):

        @pipeline.stage("bare", inputs="readings", outputs={"hot": Hot})
        async def bare(reading):  # type: ignore[no-untyped-def]
            return None


def test_two_returned_classes_and_one_topic_ask_for_a_mapping() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match=r"returns Hot, Cold; .* outputs=\{topic"):

        @pipeline.stage("both", inputs="readings", outputs="out")
        async def both(reading: Reading) -> Hot | Cold:
            return Cold(reading.sensor)


def test_a_parameter_that_is_not_a_record_is_named() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match="takes str, not an AvroRecord class"):

        @pipeline.stage("text", inputs="readings", outputs={"hot": Hot})
        async def text(reading: str) -> Hot:
            return Hot(reading, 0.0)


async def test_a_plain_def_stage_runs_inline() -> None:
    pipeline = _pipeline()

    @pipeline.stage("hot", inputs="readings", outputs="hot")
    def hot(reading: Reading) -> Hot | None:
        return Hot(reading.sensor, reading.value) if reading.value > 30 else None

    assert hot(Reading("s", 40.0, AT)) == Hot("s", 40.0)  # the decorator returns it as written
    driver = TestDriver(pipeline)
    driver.send("readings", Reading("s1", 35.0, AT), key="s1")
    driver.send("readings", Reading("s2", 5.0, AT), key="s2")
    await driver.run()
    assert driver.read("hot") == [Hot("s1", 35.0)]
    assert driver.dead_letters("hot") == []


def test_a_generator_stage_is_refused_at_declaration() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match="stage gen: gen is a generator"):

        @pipeline.stage("gen", inputs="readings", outputs="hot")
        def gen(reading: Reading) -> Iterator[Hot]:
            yield Hot(reading.sensor, reading.value)


def test_a_function_that_cannot_take_one_record_is_refused() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match="two must take exactly one argument"):

        @pipeline.stage("two", inputs="readings", input_type=Reading, outputs={"hot": Hot})
        async def two(reading: Reading, other: Reading) -> Hot:
            return Hot(reading.sensor, other.value)


def test_a_returned_class_no_output_carries_is_refused_at_declaration() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match=r"stage cold: .* returns Cold, which no output"):

        @pipeline.stage("cold", inputs="readings", outputs={"hot": Hot})
        async def cold(reading: Reading) -> Cold:
            return Cold(reading.sensor)


def test_a_return_annotation_that_is_not_a_record_is_refused() -> None:
    pipeline = _pipeline()
    with pytest.raises(ConfigurationError, match=r"annotated to return dict; a stage returns"):

        @pipeline.stage("raw", inputs="readings", outputs={"hot": Hot})
        def raw(reading: Reading) -> dict[str, float]:
            return {"value": reading.value}
