"""JSON topics through the test driver: JSON in, JSON out, bad values dead-lettered, no registry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from streamworks import AvroRecord, Count, GlobalTable, Pipeline, To, TopicSpec
from streamworks.core.errors import ConfigurationError
from streamworks.pipeline.graph import PipelineError
from streamworks.runtime.dead_letters import DLQ_PREFIX, header
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.memory_registry import InMemoryRegistry
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.driver import TestDriver
from tests.kit.records import Alarm, Label, Level, Reading, Total

AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
AT_TEXT = "2026-05-01T10:00:00.000+00:00"


def _sensors() -> Pipeline:
    """Readings (JSON, from outside) classified into labels (JSON), alarms (JSON) and warnings
    (Avro, not declared: the default format)."""
    pipeline = Pipeline(
        "j",
        topics=[
            TopicSpec("iot.readings", Reading, 2, external=True, format="json"),
            TopicSpec("iot.labels", Label, format="json"),
            TopicSpec("iot.alarms", Alarm, format="json"),
        ],
    )

    @pipeline.stage(
        "classify",
        inputs="iot.readings",
        outputs={"iot.labels": Label, "iot.warnings": Label, "iot.alarms": Alarm},
    )
    async def classify(reading: Reading) -> Any:
        if reading.value > 100:
            return Alarm(reading, Level.ALARM, ("above 100",))  # routed by its type
        if reading.value > 80:
            return To("iot.warnings", Label(reading.sensor, Level.WARN))
        return To("iot.labels", Label(reading.sensor, note=f"{reading.value:g}"))

    return pipeline


def _dlq_headers(letter: Any) -> dict[str, str | None]:
    names = ("error.class", "error.message", "origin.topic", "origin.offset", "attempts")
    return {name: header(letter.headers, DLQ_PREFIX + name) for name in names}


async def test_json_in_json_out_and_a_bad_value_dead_lettered_with_its_reason() -> None:
    driver = TestDriver(_sensors())
    outside = json.dumps({"sensor": "s1", "value": 20, "at": "2026-05-01T12:00:00+02:00"})
    driver.send("iot.readings", outside.encode(), key="s1")  # written by another system
    driver.send("iot.readings", Reading("s2", 120.0, AT), key="s2")  # encoded as JSON
    bad = b'{"sensor": "s3", "value": "hot", "colour": "red"}'
    driver.send("iot.readings", bad, key="s3")
    driver.send("iot.readings", Reading("s4", 90.0, AT), key="s4")
    await driver.run()

    assert json.loads(driver.messages("iot.readings")[1].value or b"") == {
        "sensor": "s2",
        "value": 120.0,
        "at": AT_TEXT,
    }
    [label] = driver.messages("iot.labels")
    assert json.loads(label.value or b"") == {"sensor": "s1", "level": "OK", "note": "20"}
    assert driver.read("iot.labels") == [Label("s1", Level.OK, "20")]
    [alarm] = driver.messages("iot.alarms")
    assert json.loads(alarm.value or b"") == {
        "reading": {"sensor": "s2", "value": 120.0, "at": AT_TEXT},
        "level": "ALARM",
        "reasons": ["above 100"],
    }
    assert driver.read("iot.warnings") == [Label("s4", Level.WARN)]  # Avro, read back as such
    [warning] = driver.messages("iot.warnings")
    assert (warning.value or b"")[:1] == b"\x00"  # Confluent-framed

    [letter] = driver.dead_letters("classify")
    assert letter.value == bad  # kept as it came
    assert letter.key == b"s3"
    found = _dlq_headers(letter)
    assert found["error.class"] == "streamworks.schemas.errors.ValueDecodeError"
    message = found["error.message"] or ""
    assert "JSON value does not fit kit.Reading" in message
    assert "value: expected a number, got 'hot'" in message
    assert "at: missing" in message
    assert "colour: unknown field" in message
    assert (found["origin.topic"], found["attempts"]) == ("iot.readings", "0")
    counts = driver.counts["classify"]
    assert (counts.records_in, counts.out, counts.dead_lettered) == (4, 3, 1)
    assert counts.balanced()


async def test_an_avro_framed_value_on_a_json_topic_is_named_in_its_dead_letter() -> None:
    driver = TestDriver(_sensors())
    avro = RecordCodec(Reading, AvroCodec(InMemoryRegistry()), subject="x-value")
    driver.send("iot.readings", avro.encode(Reading("s1", 1.0, AT)))
    await driver.run()
    [letter] = driver.dead_letters("classify")
    assert "Avro-framed value on a JSON topic" in (_dlq_headers(letter)["error.message"] or "")


def test_json_topics_have_no_registry_subject() -> None:
    assert set(_sensors().subjects()) == {"iot.warnings-value"}


async def test_an_output_json_cannot_carry_dead_letters_its_input() -> None:
    pipeline = Pipeline(
        "n",
        topics=[
            TopicSpec("in", Reading, 1, external=True),
            TopicSpec("out", Reading, 1, format="json"),
        ],
    )

    @pipeline.stage("halve", inputs="in", outputs="out")
    async def halve(reading: Reading) -> Reading:
        return Reading(reading.sensor, float("nan"), AT)  # fine in Avro, not in JSON

    driver = TestDriver(pipeline)
    driver.send("in", Reading("s", 0.0, AT))
    await driver.run()
    [letter] = driver.dead_letters("halve")
    found = _dlq_headers(letter)
    assert found["error.class"] == "streamworks.schemas.errors.EncodeError"
    assert "value: nan has no JSON form" in (found["error.message"] or "")
    assert driver.messages("out") == []


async def test_one_stage_reads_a_json_and_an_avro_topic() -> None:
    pipeline = Pipeline(
        "m",
        topics=[
            TopicSpec("from.web", Reading, 1, external=True, format="json"),
            TopicSpec("from.plant", Reading, 1, external=True),
        ],
    )

    @pipeline.stage("merge", inputs=("from.web", "from.plant"), outputs="all")
    async def merge(reading: Reading) -> Reading:
        return reading

    driver = TestDriver(pipeline)
    driver.send("from.web", Reading("web", 1.0, AT))
    driver.send("from.plant", Reading("plant", 2.0, AT))
    driver.send("from.plant", b'{"sensor": "json on an Avro topic"}')
    await driver.run()
    assert sorted(r.sensor for r in driver.read("all")) == ["plant", "web"]
    [letter] = driver.dead_letters("merge")
    assert "not Confluent-framed Avro" in (_dlq_headers(letter)["error.message"] or "")


async def test_a_global_table_follows_a_json_topic() -> None:
    table = GlobalTable("sensors", Label)
    pipeline = Pipeline(
        "t",
        topics=[
            TopicSpec("readings", Reading, 1, external=True),
            TopicSpec("sensors", Label, 1, external=True, format="json"),
        ],
    )

    @pipeline.stage("locate", inputs="readings", outputs="located", tables=(table,))
    async def locate(reading: Reading) -> Label:
        known = table.join(reading.sensor)
        return Label(reading.sensor, note=None if known is None else known.note)

    driver = TestDriver(pipeline)
    driver.send("sensors", b'{"sensor": "s1", "note": "roof"}', key="s1")
    driver.send("readings", Reading("s1", 1.0, AT), key="s1")
    await driver.run()
    assert driver.read("located") == [Label("s1", Level.OK, "roof")]


async def test_an_aggregation_reads_and_writes_json() -> None:
    pipeline = Pipeline(
        "a",
        topics=[
            TopicSpec("readings", Reading, 1, external=True, format="json"),
            TopicSpec("totals", Total, 1, format="json"),
        ],
    )
    pipeline.aggregate(
        "count",
        inputs="readings",
        input_type=Reading,
        key=lambda r: r.sensor,
        aggregator=Count(),
        output="totals",
        output_type=Total,
        emit=lambda key, _, n: Total(key, n, float(n)),
        repartition=False,
    )
    driver = TestDriver(pipeline)
    for value in (1.0, 2.0):
        driver.send("readings", Reading("s1", value, AT), key="s1")
    driver.send("readings", b'{"sensor": 1}', key="s1")
    await driver.run()
    assert [json.loads(m.value or b"") for m in driver.messages("totals")] == [
        {"key": "s1", "count": 1, "sum": 1.0},
        {"key": "s1", "count": 2, "sum": 2.0},
    ]
    [letter] = driver.dead_letters("count")
    assert "sensor: expected text, got 1" in (_dlq_headers(letter)["error.message"] or "")


async def test_a_repartitioned_json_input_moves_on_as_avro() -> None:
    pipeline = Pipeline(
        "r", topics=[TopicSpec("readings", Reading, 2, external=True, format="json")]
    )

    @pipeline.stage("keyed", inputs="readings", outputs="out", repartition_by=lambda r: r.sensor)
    async def keyed(reading: Reading) -> Reading:
        return reading

    driver = TestDriver(pipeline)
    driver.send("readings", Reading("s1", 1.0, AT))
    await driver.run()
    assert driver.read("out") == [Reading("s1", 1.0, AT)]


# -- validation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point(AvroRecord, namespace="test.json.edge"):
    x: int
    y: int = 0


def _slim_point() -> type[AvroRecord]:
    """A reader of the same record name without ``y``: fine for Avro, not for JSON."""

    @dataclass(frozen=True)
    class Point(AvroRecord, namespace="test.json.edge"):
        x: int

    return Point


@pytest.mark.parametrize("form", ["avro", "json"])
def test_a_json_edge_refuses_a_writer_field_its_reader_lacks(form: str) -> None:
    slim = _slim_point()
    pipeline = Pipeline(
        "e",
        topics=[
            TopicSpec("points", Point, 1, external=True),
            TopicSpec("middle", Point, 1, format=form),  # type: ignore[arg-type]
        ],
    )

    @pipeline.stage("copy", inputs="points", outputs={"middle": Point})
    async def copy(point: Point) -> Point:
        return point

    @pipeline.stage("read", inputs="middle", input_type=slim, outputs={"end": slim})
    async def read(point: Any) -> Any:
        return point

    if form == "avro":
        pipeline.validate()  # Avro resolution drops y
        return
    with pytest.raises(PipelineError) as caught:
        pipeline.validate()
    [problem] = caught.value.problems
    assert "stage copy writes Point to JSON topic middle with fields y" in problem
    assert "stage read lacks" in problem


@dataclass(frozen=True)
class Odd(AvroRecord, namespace="test.json.odd"):
    z: complex


def test_a_json_topic_whose_record_class_has_no_schema_is_refused() -> None:
    pipeline = Pipeline("o", topics=[TopicSpec("odd", Odd, 1, external=True, format="json")])

    @pipeline.stage("s", inputs="odd", outputs={"out": Odd})
    async def same(odd: Odd) -> Odd:
        return odd

    with pytest.raises(PipelineError, match="complex has no Avro form"):
        pipeline.validate()


def test_an_external_json_topic_without_a_record_type_is_refused() -> None:
    pipeline = Pipeline("x", topics=[TopicSpec("raw", None, 1, external=True, format="json")])

    @pipeline.stage("s", inputs="raw", input_type=Reading, outputs={"out": Reading})
    async def same(reading: Reading) -> Reading:
        return reading

    with pytest.raises(PipelineError, match="external topic raw declares no record type"):
        pipeline.validate()


def test_an_unknown_format_is_refused_when_declared() -> None:
    with pytest.raises(ConfigurationError, match="format 'xml' is not one of avro, json"):
        TopicSpec("t", Reading, format="xml")  # type: ignore[arg-type]
