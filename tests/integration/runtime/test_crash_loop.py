"""Crash-loop quarantine on the real broker: a record that aborts its worker process.

``streamworks run`` supervises one worker; its stage calls ``os.abort()`` (as a segfaulting C
extension would kill it) on one reading of 300. The worker dies with that record in its
batch, again and again, until the record is tracked down and dead-lettered as
``CrashLoop``; every other reading comes out, and the run never gives up.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from streamworks import Guarantee, Pipeline, Settings, TopicSpec
from streamworks.testing import RunPipeline, unique_name
from tests.kit.builders import feed
from tests.kit.records import Label, Reading
from tests.projects import outside_env

pytestmark = pytest.mark.integration

CRASHING_MODULE = '''\
"""A stage that aborts its process on one sensor's reading."""

import os

from streamworks import Pipeline, TopicSpec
from tests.kit.records import Label, Reading

PREFIX = os.environ["CRASH_PREFIX"]
POISON = os.environ["CRASH_POISON"]

pipeline = Pipeline(
    PREFIX,
    topics=[TopicSpec(f"{PREFIX}.readings", Reading, partitions=2, external=True)],
    guarantee=os.environ["CRASH_GUARANTEE"],
)


@pipeline.stage("clean", inputs=f"{PREFIX}.readings", outputs=f"{PREFIX}.labels")
def clean(reading: Reading) -> Label:
    if reading.sensor == POISON:
        os.abort()  # no exception, no dead letter: the process is gone
    return Label(reading.sensor)
'''


def _pipeline(prefix: str, guarantee: Guarantee) -> Pipeline:
    """The same topics as CRASHING_MODULE's, to feed and read them from the test."""
    pipeline = Pipeline(
        prefix,
        topics=[TopicSpec(f"{prefix}.readings", Reading, partitions=2, external=True)],
        guarantee=guarantee,
    )
    pipeline.stage(
        "clean",
        inputs=f"{prefix}.readings",
        input_type=Reading,
        outputs={f"{prefix}.labels": Label},
    )(lambda reading: None)
    return pipeline


# at-least-once here (its pieces are pipelined, the harder case for the markers); chaos
# scenario b runs the same under exactly-once (tests/chaos/test_crash_loop.py)
@pytest.mark.parametrize("guarantee", ["at-least-once"])
async def test_a_record_that_aborts_its_worker_becomes_one_dead_letter(
    run_pipeline: RunPipeline,
    kafka_settings: Settings,
    tmp_path: Path,
    guarantee: Guarantee,
) -> None:
    prefix = unique_name("crash-loop")
    readings = feed(300)
    poison = readings[137].sensor
    (tmp_path / "crashing_stage.py").write_text(CRASHING_MODULE)
    env = outside_env(
        CRASH_PREFIX=prefix,
        CRASH_POISON=poison,
        CRASH_GUARANTEE=guarantee,
        PYTHONPATH=f"{tmp_path}:{Path.cwd()}",
        STREAMWORKS_BOOTSTRAP_SERVERS=kafka_settings.bootstrap_servers,
        STREAMWORKS_REGISTRY_URL=kafka_settings.registry_url,
        STREAMWORKS_STATE_DIR=str(tmp_path / "state"),
    )
    log = (tmp_path / "run.log").open("w+")
    async with run_pipeline(_pipeline(prefix, guarantee), workers={"clean": 0}) as running:
        await running.send(f"{prefix}.readings", readings, key=lambda r: r.sensor)
        run = await asyncio.to_thread(  # our own CLI, as a user runs it
            subprocess.Popen,
            [sys.executable, "-m", "streamworks", "run", "crashing_stage:pipeline"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            letters = await running.dead_letters("clean", count=1, within_s=150)
            labels = await running.read(f"{prefix}.labels", count=len(readings) - 1, within_s=60)
            assert run.poll() is None, "streamworks run gave up"
        finally:
            run.send_signal(signal.SIGTERM)
            await asyncio.to_thread(run.wait, 60)
    log.close()
    output = await asyncio.to_thread((tmp_path / "run.log").read_text)

    [letter] = letters
    headers = {name: value.decode() for name, value in letter.headers}
    assert letter.key == poison.encode()
    assert headers["streamworks.dlq.error.class"] == "CrashLoop"
    assert "killed by SIGABRT" in headers["streamworks.dlq.error.message"], headers
    where = (
        f"{prefix}.readings[{headers['streamworks.dlq.origin.partition']}]"
        f"@{headers['streamworks.dlq.origin.offset']}"
    )
    quarantined = [line for line in output.splitlines() if "CrashLoop at" in line]
    assert len(quarantined) == 1, output
    assert where in quarantined[0]

    expected = {r.sensor for r in readings} - {poison}
    assert {label.sensor for label in labels} == expected
    if guarantee == "exactly-once":
        assert max(Counter(label.sensor for label in labels).values()) == 1
    assert "gave up" not in output and "exited 5 times" not in output
