"""Missing topics without a broker: one line per topic per 10 s, the fix named, the return
said once; aiokafka's repeats quietened; the stats and status carry the mark."""

from __future__ import annotations

import json
import logging
import re

from aiokafka import TopicPartition
from rich.console import Console

from streamworks import Pipeline
from streamworks.kafka.missing_topics import MissingTopicLines
from streamworks.ops.status import (
    PipelineStatus,
    WorkerHistory,
    WorkerSample,
    stage_figures,
    stage_status,
    status_table,
)
from streamworks.runtime.processor import Counts
from streamworks.runtime.topic_watch import MissingTopics, roles_of
from tests.kit.records import Label, Reading

ROLES = {"p.in": "input of stage clean", "p.out": "output of stage clean"}


def lines(topics: MissingTopics, existing: set[str], now: float) -> list[str]:
    return [n.message for n in topics.seen(existing, now)]


def test_a_missing_topic_is_said_once_per_10_s_with_its_role_and_the_fix() -> None:
    topics = MissingTopics(ROLES, "p")
    assert topics.watched == ["p.in", "p.out"]  # what the check asks the cluster about
    assert lines(topics, {"p.in", "p.out"}, 0.0) == []
    assert lines(topics, {"p.out"}, 3.0) == [
        "topic p.in is missing (input of stage clean); create it with: streamworks topics apply p"
    ]
    assert topics.missing == ("p.in",)
    assert lines(topics, {"p.out"}, 6.0) == []
    assert lines(topics, {"p.out"}, 12.9) == []
    assert lines(topics, {"p.out"}, 13.0) == [
        "topic p.in is missing (input of stage clean) for 10 s; "
        "create it with: streamworks topics apply p"
    ]


def test_each_missing_topic_has_its_own_line_and_its_return_is_said_once() -> None:
    topics = MissingTopics(ROLES, "p")
    assert len(lines(topics, set(), 0.0)) == 2
    back = topics.seen({"p.in"}, 4.0)
    assert [(n.level, n.message) for n in back] == [
        (logging.INFO, "topic p.in is back (input of stage clean)")
    ]
    assert topics.missing == ("p.out",)
    assert lines(topics, {"p.in"}, 8.0) == []
    assert lines(topics, set(), 9.0) == [  # gone again: said at once, as new
        "topic p.in is missing (input of stage clean); create it with: streamworks topics apply p"
    ]


def test_roles_name_every_topic_a_worker_uses() -> None:
    pipeline = Pipeline("p")

    @pipeline.stage("clean", inputs="p.in", input_type=Reading, outputs={"p.out": Label})
    async def clean(reading: Reading) -> Label:
        return Label(reading.sensor)

    assert roles_of(pipeline, "clean") == {
        "p.in": "input of stage clean",
        "p.out": "output of stage clean",
        pipeline.dead_letter_topic("clean"): "dead-letter topic of stage clean",
    }


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.cluster", logging.ERROR, __file__, 1, msg, args, None)


def test_aiokafka_s_repeats_about_a_missing_topic_pass_once_per_10_s_per_topic() -> None:
    now = [0.0]
    quiet = MissingTopicLines(10.0, clock=lambda: now[0])
    missing = "Topic %s not found in cluster metadata"
    retry = "Got error produce response on topic-partition %s, retrying. Error: %s"
    assert quiet.filter(record(missing, "a"))
    assert not quiet.filter(record(missing, "a"))
    assert quiet.filter(record(missing, "b"))
    assert quiet.filter(record(retry, TopicPartition("a", 0), "UnknownTopicOrPartitionError"))
    assert not quiet.filter(record(retry, TopicPartition("a", 1), "UnknownTopicOrPartitionError"))
    assert quiet.filter(record("Heartbeat failed: %r", "x"))  # anything else passes
    assert quiet.filter(record("Heartbeat failed: %r", "x"))
    now[0] = 10.0
    assert quiet.filter(record(missing, "a"))


def test_status_marks_a_stage_whose_live_workers_miss_a_topic() -> None:
    history = WorkerHistory()
    live = WorkerSample("p", "clean", 100.0, Counts(), missing_topics=("p.out",))
    stopped = WorkerSample("p", "clean", 100.0, Counts(), stopped=True, missing_topics=("p.x",))
    history.add(b"p/clean/w1", live)
    history.add(b"p/clean/w2", stopped)
    figures = stage_figures(history, "p", ["clean"], now=101.0)["clean"]
    assert figures.missing_topics == ("p.out",)
    found = stage_status(
        name="clean",
        group="p.clean",
        inputs=("p.in",),
        kind="stage",
        workers=1,
        partitions=0,
        lag_records=0,
        lag_s=0.0,
        figures=figures,
        missing_inputs=("p.in",),
    )
    assert found.missing_topics == ("p.in", "p.out")
    status = PipelineStatus("p", 0.0, (found,), None)
    assert json.loads(json.dumps(status.as_data()))["stages"][0]["missing_topics"] == [
        "p.in",
        "p.out",
    ]
    console = Console(width=160, record=True)
    console.print(status_table(status))
    assert re.search(r"missing: p\.in, p\.out", console.export_text())


def test_a_stats_record_without_missing_topics_parses_as_none_missing() -> None:
    value = {"pipeline": "p", "stage": "s", "at": 1.0, "counts": {}}
    parsed = WorkerSample.parse(value)
    assert parsed is not None
    assert parsed.missing_topics == ()
    parsed = WorkerSample.parse({**value, "missing_topics": ["p.in"]})
    assert parsed is not None
    assert parsed.missing_topics == ("p.in",)
