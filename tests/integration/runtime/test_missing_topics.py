"""On the real broker: an input topic deleted under a running worker is said loudly (one line
per 10 s with the fix, aiokafka's repeats quietened), the stats and status mark the stage,
and once the topic is applied again the worker takes it up without a restart."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from streamworks import Pipeline, TopicSpec
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.status import collect_status
from streamworks.runtime.stats import StatsPublisher, read_latest
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import RunPipeline, unique_name, wait_for
from tests.kit.builders import feed
from tests.kit.records import Label, Reading

pytestmark = pytest.mark.integration


def said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


async def delete_topic(settings: Settings, topic: str) -> None:
    admin = clients.admin_client(settings)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()


async def missing_in_stats(settings: Settings, key: bytes) -> list[str]:
    record = (await read_latest(settings)).get(key, {})
    return list(record.get("missing_topics", []))


async def stats_name_missing(settings: Settings, key: bytes) -> bool:
    return bool(await missing_in_stats(settings, key))


@pytest.mark.timeout(150)
async def test_a_deleted_input_is_said_marked_and_taken_up_again_when_applied(
    run_pipeline: RunPipeline, kafka_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    name = unique_name("missing")
    readings_topic = f"{name}.readings"
    pipeline = Pipeline(
        name,
        guarantee="at-least-once",
        topics=[TopicSpec(readings_topic, Reading, 2, external=True)],
    )

    @pipeline.stage(
        "label", inputs=readings_topic, input_type=Reading, outputs={f"{name}.labels": Label}
    )
    async def label(reading: Reading) -> Label:
        return Label(reading.sensor)

    line = (
        f"topic {readings_topic} is missing (input of stage label); "
        f"create it with: streamworks topics apply {name}"
    )
    async with run_pipeline(pipeline) as running:
        [worker] = running.workers["label"]
        stats = StatsPublisher(  # as the worker command publishes them
            kafka_settings,
            worker.counts,
            pipeline=name,
            stage="label",
            worker=worker.worker_id,
            details=lambda: {"missing_topics": worker.parts.topic_watch.missing},
        )
        await stats.start()
        try:
            await running.send(readings_topic, feed(20), key=lambda r: r.sensor)
            await running.read(f"{name}.labels", count=20)

            await delete_topic(kafka_settings, readings_topic)
            await wait_for(lambda: said(caplog, line) == 1, timeout=30, what="the missing line")
            key = f"{name}/label/{worker.worker_id}".encode()
            await wait_for(
                lambda: stats_name_missing(kafka_settings, key),
                timeout=30,
                what="missing_topics in the worker's stats",
            )
            assert await missing_in_stats(kafka_settings, key) == [readings_topic]
            status = await collect_status(pipeline, kafka_settings)
            assert status.stage("label").missing_topics == (readings_topic,)
            assert status.as_data()["stages"][0]["missing_topics"] == [readings_topic]

            await ensure_topics(pipeline, kafka_settings)  # what streamworks topics apply does
            await wait_for(
                lambda: said(caplog, f"topic {readings_topic} is back") == 1,
                timeout=30,
                what="the line saying the topic is back",
            )
            await wait_for(  # the group takes the topic's partitions again, no restart
                lambda: bool(worker.parts.member.assignment),
                timeout=30,
                what="the topic reassigned",
            )
            await running.send(readings_topic, feed(20, start=20), key=lambda r: r.sensor)
            labels = await running.read(f"{name}.labels", count=40, within_s=60)
        finally:
            await stats.stop()

    assert sorted(r.sensor for r in labels) == sorted(
        r.sensor for r in [*feed(20), *feed(20, start=20)]
    )
    # aiokafka's own warnings and errors about the topic: each at most once per 10 s
    repeats = Counter(
        r.msg
        for r in caplog.records
        if r.name.startswith("aiokafka")
        and r.levelno >= logging.WARNING
        and readings_topic in r.getMessage()
    )
    window_s = max(1.0, caplog.records[-1].created - caplog.records[0].created)
    assert all(n <= window_s / 10 + 1 for n in repeats.values()), repeats
