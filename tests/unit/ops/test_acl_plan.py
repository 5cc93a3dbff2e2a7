"""The ACL plan gives each principal what its code does and nothing else."""

from __future__ import annotations

from pathlib import Path

from streamworks.connectors.files.config import FileSourceConfig, JsonlSinkConfig
from streamworks.connectors.http import HttpSourceConfig
from streamworks.ops.acl import Binding, connector_bindings, pipeline_bindings, plan, principals
from tests.kit.pipelines import sensor_pipeline


def _of(bindings: list[Binding], name: str) -> list[Binding]:
    return [b for b in bindings if b.principal == f"User:{name}"]


def _topics(bindings: list[Binding], operation: str) -> set[str]:
    return {b.name for b in bindings if b.resource == "TOPIC" and b.operation == operation}


def test_each_stage_reads_its_inputs_and_writes_its_outputs_and_dead_letters_only() -> None:
    pipeline = sensor_pipeline()
    # every kind of read is there to check: a global table, a changelog, a repartition topic
    assert {"sensors.sensors", "sensors.totals.changelog", "sensors.totals.repartition"} <= {
        topic for stage in pipeline.stages for topic in pipeline.reads(stage)
    }
    bindings = pipeline_bindings(pipeline)
    for stage in pipeline.stages.values():
        mine = _of(bindings, pipeline.group_id(stage.name))
        changelog = {stage.aggregation.changelog} if stage.aggregation else set()
        tables = {t.topic for t in stage.tables}
        stats = {"_streamworks_stats"} if stage.aggregation else set()  # table query routing
        assert _topics(mine, "READ") == set(stage.inputs) | tables | changelog | stats, stage.name
        assert _topics(mine, "WRITE") == (
            set(stage.outputs)
            | {pipeline.dead_letter_topic(stage.name), "_streamworks_stats", "_replies."}
            | changelog
        ), stage.name
        groups = [b.name for b in mine if b.resource == "GROUP"]
        assert groups == [pipeline.group_id(stage.name)]


def test_nobody_may_create_delete_alter_or_touch_the_cluster() -> None:
    bindings = plan(
        sensor_pipeline(guarantee="exactly-once"),
        [HttpSourceConfig(name="ingest", topic="sensors.readings", guarantee="exactly-once")],
        registry_topic="_schemas",
    )
    assert {b.operation for b in bindings} <= {"READ", "WRITE", "DESCRIBE"}
    assert all(b.resource != "CLUSTER" for b in bindings)
    prefixed = {b.name for b in bindings if b.pattern == "PREFIXED"}
    # prefixes are a stage's own transactional ids and the reply topics, never a wildcard
    assert all(name.endswith(".") and len(name) > 1 for name in prefixed), prefixed


def test_transactional_ids_only_under_exactly_once_and_only_the_stages_own() -> None:
    assert not [b for b in pipeline_bindings(sensor_pipeline()) if b.resource == "TRANSACTIONAL_ID"]
    pipeline = sensor_pipeline(guarantee="exactly-once")
    ids = [b for b in pipeline_bindings(pipeline) if b.resource == "TRANSACTIONAL_ID"]
    for stage in pipeline.stages:
        group = pipeline.group_id(stage)
        assert {(b.name, b.pattern) for b in _of(ids, group)} == {(f"{group}.", "PREFIXED")}


def test_sources_write_their_topic_and_positions_sinks_read_as_their_group(tmp_path: Path) -> None:
    configs = [
        FileSourceConfig(name="inbox", topic="sensors.readings", directory=tmp_path),
        JsonlSinkConfig(name="out", topics=["sensors.labels"], directory=tmp_path),
    ]
    bindings = connector_bindings(configs)
    source, sink = _of(bindings, "connect-inbox"), _of(bindings, "connect-out")
    assert _topics(source, "WRITE") == {
        "sensors.readings",
        "connect.inbox.dlq",
        "streamworks.connect.positions",
    }
    assert _topics(source, "READ") == {"streamworks.connect.positions"}
    assert not [b for b in source if b.resource in ("GROUP", "TRANSACTIONAL_ID")]
    assert _topics(sink, "READ") == {"sensors.labels"}
    assert _topics(sink, "WRITE") == {"connect.out.dlq"}
    assert [b.name for b in sink if b.resource == "GROUP"] == ["connect-out"]


def test_principals_are_one_per_stage_connector_and_the_registry() -> None:
    pipeline = sensor_pipeline()
    bindings = plan(
        pipeline, [HttpSourceConfig(name="ingest", topic="sensors.readings")], registry_topic="s"
    )
    expected = [pipeline.group_id(s) for s in pipeline.stages] + [
        "connect-ingest",
        "schema-registry",
    ]
    assert principals(bindings) == expected
    assert len({b.rule for b in bindings}) == len(bindings), "no rule is listed twice"
