"""``run_pipeline`` on the real broker, and the circuit breaker that stops a buggy stage.

A stage whose code fails on every record must stop, loudly, with its input uncommitted and
nothing written; a stage with a few bad records must keep going and dead-letter exactly
those.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamworks import Pipeline, Settings, TopicSpec
from streamworks.kafka import clients
from streamworks.runtime.breaker import StageStopped
from streamworks.testing import RunPipeline, unique_name, wait_for
from tests.kit.builders import feed
from tests.kit.records import Label, Reading
from tests.projects import outside_env

pytestmark = pytest.mark.integration


def _one_stage(prefix: str, function: Callable[[Reading], Any], **options: Any) -> Pipeline:
    """``<prefix>.readings`` -> clean (``function``) -> ``<prefix>.labels``."""
    pipeline = Pipeline(
        prefix, topics=[TopicSpec(f"{prefix}.readings", Reading, partitions=2, external=True)]
    )
    pipeline.stage(
        "clean",
        inputs=f"{prefix}.readings",
        input_type=Reading,
        outputs={f"{prefix}.labels": Label},
        **options,
    )(function)
    return pipeline


def _sensor(reading: Reading) -> str:
    return reading.sensor


async def _end_offsets(settings: Settings, pipeline: Pipeline, topic: str) -> int:
    """How many records ``topic`` of ``pipeline`` holds (its partitions' end offsets)."""
    consumer = clients.consumer(settings=settings, group_id=None)
    await consumer.start()
    try:
        count = pipeline.topics()[topic].partitions
        partitions = [TopicPartition(topic, p) for p in range(count)]
        consumer.assign(partitions)
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def _committed(settings: Settings, pipeline: Pipeline, stage: str) -> int:
    """The sum of the offsets ``stage``'s group has committed on its input."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(pipeline.group_id(stage))
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
    finally:
        await admin.close()


async def test_a_plain_def_stage_runs_in_process(run_pipeline: RunPipeline) -> None:
    prefix = unique_name("plain")

    def label(reading: Reading) -> Label:  # not async: run inline
        return Label(reading.sensor, note=f"{reading.value:g}")

    pipeline = _one_stage(prefix, label)
    readings = feed(200)
    async with run_pipeline(pipeline, workers={"clean": 2}) as running:
        await running.send(f"{prefix}.readings", readings, key=_sensor)
        labels = await running.read(f"{prefix}.labels", count=len(readings))
        await wait_for(lambda: running.counts("clean").out == len(readings), what="200 counted")
    assert sorted(label.sensor for label in labels) == sorted(r.sensor for r in readings)


async def test_a_stage_failing_on_every_record_stops_with_nothing_committed(
    run_pipeline: RunPipeline, kafka_settings: Settings
) -> None:
    prefix = unique_name("broken")

    async def broken(reading: Reading) -> Label:
        return Label(reading.sensor, note=str(reading.value / 0))

    pipeline = _one_stage(prefix, broken, stop_after=20)
    with pytest.raises(StageStopped) as stopped:
        async with run_pipeline(pipeline) as running:
            await running.send(f"{prefix}.readings", feed(100), key=_sensor)
            await running.read(f"{prefix}.labels", count=1, within_s=120)  # never comes
    message = str(stopped.value)
    assert "\n" not in message
    assert "stage clean stopped" in message
    assert "ZeroDivisionError" in message
    # the failing batch was neither written (no dead letters) nor committed
    assert await _end_offsets(kafka_settings, pipeline, pipeline.dead_letter_topic("clean")) == 0
    assert await _committed(kafka_settings, pipeline, "clean") == 0


async def test_a_few_bad_records_are_dead_lettered_and_the_stage_goes_on(
    run_pipeline: RunPipeline,
) -> None:
    prefix = unique_name("few-bad")

    async def picky(reading: Reading) -> Label:
        if reading.sensor.endswith("00"):  # one record in a hundred
            raise ValueError(f"sensor {reading.sensor} is on the blocklist")
        return Label(reading.sensor)

    pipeline = _one_stage(prefix, picky, stop_after=3)
    readings = feed(500)
    bad = {r.sensor for r in readings if r.sensor.endswith("00")}
    async with run_pipeline(pipeline) as running:
        await running.send(f"{prefix}.readings", readings, key=_sensor)
        labels = await running.read(f"{prefix}.labels", count=len(readings) - len(bad))
        letters = await running.dead_letters("clean", count=len(bad))
    assert {label.sensor for label in labels} == {r.sensor for r in readings} - bad
    assert {letter.key.decode() for letter in letters if letter.key} == bad
    reasons = {dict(letter.headers)["streamworks.dlq.error.message"] for letter in letters}
    assert reasons == {f"sensor {sensor} is on the blocklist".encode() for sensor in bad}


WORKER_MODULE = '''\
"""A stage with a bug: it divides by zero on every record."""

import os

from streamworks import Pipeline, TopicSpec
from tests.kit.records import Label, Reading

PREFIX = os.environ["BROKEN_PREFIX"]

pipeline = Pipeline(
    PREFIX, topics=[TopicSpec(f"{PREFIX}.readings", Reading, partitions=2, external=True)]
)


@pipeline.stage("clean", inputs=f"{PREFIX}.readings", outputs=f"{PREFIX}.labels", stop_after=10)
def clean(reading: Reading) -> Label:
    return Label(reading.sensor, note=str(reading.value / 0))
'''


async def _run_broken(
    run_pipeline: RunPipeline, settings: Settings, folder: Path, arguments: list[str]
) -> tuple[Pipeline, subprocess.CompletedProcess[str]]:
    """Feed 50 readings to a fresh copy of WORKER_MODULE's topics, then run the CLI with
    ``arguments`` on it as a user would; the pipeline (same topics and group) and the run."""
    prefix = unique_name("broken-cli")
    (folder / "broken_stage.py").write_text(WORKER_MODULE)
    env = outside_env(
        BROKEN_PREFIX=prefix,
        PYTHONPATH=f"{folder}:{Path.cwd()}",
        STREAMWORKS_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
        STREAMWORKS_REGISTRY_URL=settings.registry_url,
    )
    pipeline = _one_stage(prefix, lambda reading: None)  # the same topics, to feed them
    async with run_pipeline(pipeline, workers={"clean": 0}) as running:
        await running.send(f"{prefix}.readings", feed(50), key=_sensor)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streamworks", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,  # the commands end on their own well before
        check=False,
    )
    return pipeline, done


async def test_the_worker_command_exits_1_with_one_line(
    run_pipeline: RunPipeline, kafka_settings: Settings, tmp_path: Path
) -> None:
    pipeline, done = await _run_broken(
        run_pipeline,
        kafka_settings,
        tmp_path,
        ["worker", "broken_stage:pipeline", "--stage", "clean"],
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("error: stage clean stopped: 10 records in a row failed")
    assert await _committed(kafka_settings, pipeline, "clean") == 0


PLAIN_MODULE = '''\
"""Readings labelled by a plain function, for worker processes."""

import os

from streamworks import Pipeline, TopicSpec
from tests.kit.records import Label, Reading

PREFIX = os.environ["PLAIN_PREFIX"]

pipeline = Pipeline(
    PREFIX, topics=[TopicSpec(f"{PREFIX}.readings", Reading, partitions=2, external=True)]
)


@pipeline.stage("clean", inputs=f"{PREFIX}.readings", outputs=f"{PREFIX}.labels")
def clean(reading: Reading) -> Label:
    return Label(reading.sensor)
'''


def _importable(source: str, folder: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """``source`` as a module in ``folder`` that worker processes can import, with ``env``
    set for them; returns the module's name."""
    module = unique_name("stages").replace("-", "_")
    (folder / f"{module}.py").write_text(source)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{Path.cwd()}")
    monkeypatch.syspath_prepend(str(folder))
    return module


async def test_workers_as_processes(
    run_pipeline: RunPipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = unique_name("processes")
    module = _importable(PLAIN_MODULE, tmp_path, monkeypatch, PLAIN_PREFIX=prefix)
    readings = feed(100)
    async with run_pipeline(
        f"{module}:pipeline", workers={"clean": 2}, processes=True, log_dir=tmp_path / "logs"
    ) as running:
        assert running.supervisor is not None
        assert len(running.supervisor.workers("clean")) == 2
        await running.send(f"{prefix}.readings", readings, key=_sensor)
        labels = await running.read(f"{prefix}.labels", count=len(readings), within_s=60)
    assert sorted(label.sensor for label in labels) == sorted(r.sensor for r in readings)


CHAIN_MODULE = '''\
"""Readings labelled, then the labels relabelled: two stages for packed worker processes."""

import os

from streamworks import Pipeline, TopicSpec
from tests.kit.records import Label, Reading

PREFIX = os.environ["CHAIN_PREFIX"]

pipeline = Pipeline(
    PREFIX, topics=[TopicSpec(f"{PREFIX}.readings", Reading, partitions=2, external=True)]
)


@pipeline.stage("label", inputs=f"{PREFIX}.readings", outputs=f"{PREFIX}.labels")
async def label(reading: Reading) -> Label:
    return Label(reading.sensor)


@pipeline.stage("shout", inputs=f"{PREFIX}.labels", outputs=f"{PREFIX}.loud")
async def shout(found: Label) -> Label:
    return Label(found.sensor.upper())
'''


async def test_stages_packed_into_one_process_each_keep_their_group(
    run_pipeline: RunPipeline,
    kafka_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = unique_name("packed")
    module = _importable(CHAIN_MODULE, tmp_path, monkeypatch, CHAIN_PREFIX=prefix)
    readings = feed(200)
    async with run_pipeline(
        f"{module}:pipeline", processes=1, log_dir=tmp_path / "logs"
    ) as running:
        supervisor = running.supervisor
        assert supervisor is not None
        assert supervisor.processes == 1
        [process] = supervisor.workers()
        assert process.stages == ("label", "shout")
        await running.send(f"{prefix}.readings", readings, key=_sensor)
        loud = await running.read(f"{prefix}.loud", count=len(readings), within_s=60)
        assert sorted(found.sensor for found in loud) == sorted(r.sensor.upper() for r in readings)
        pipeline = running.pipeline
        for stage in ("label", "shout"):  # each stage its own group, committing its own

            async def caught_up(stage: str = stage) -> bool:
                return await _committed(kafka_settings, pipeline, stage) == len(readings)

            await wait_for(caught_up, timeout=30, what=f"{stage} to commit every record")


async def test_the_run_command_stops_when_a_stage_stops_itself(
    run_pipeline: RunPipeline, kafka_settings: Settings, tmp_path: Path
) -> None:
    pipeline, done = await _run_broken(
        run_pipeline, kafka_settings, tmp_path, ["run", "broken_stage:pipeline"]
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: stage clean stopped itself"), done.stderr
    assert done.stderr.count("stage clean stopped: 10 records in a row failed") == 1
    assert "starting another" not in done.stderr  # no worker restarted to fail the same way
    assert await _committed(kafka_settings, pipeline, "clean") == 0
