"""Elastic pools: a slow stage falls behind, ``run --autoscale`` adds workers, the lag drains,
and once the load stops the pool shrinks back.

The stage awaits 20 ms per record (one worker: about 50 records/s) and gets 150 records/s
for 30 s. The test watches the pipeline as an operator would (``collect_status``) and
writes the timeline to .cache/reports/autoscale.json: when the stage fell behind, when
each worker joined, when it had caught up, when the pool was back to one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.ops.status import StageStatus, collect_status
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import unique_name, wait_for
from tests.kit.builders import feed
from tests.kit.pipelines import slow_pipeline
from tests.kit.records import Reading

REPORT = Path(".cache/reports/autoscale.json")
RATE = 150
"""Records a second offered: three workers' worth."""
LOAD_SECONDS = 30
BEHIND_S = 3.0


@pytest.fixture
def settings(kafka_settings: Settings, schema_registry: Any) -> Settings:
    return kafka_settings.model_copy(update={"registry_url": schema_registry.url})


@pytest.mark.timeout(480)  # 30 s of load, the catch-up, then three idle periods to shrink
async def test_a_slow_stage_gets_workers_while_behind_and_gives_them_back(
    settings: Settings, tmp_path: Path
) -> None:
    prefix = unique_name("slow")
    pipeline = slow_pipeline(prefix)
    partitions = pipeline.topics()[f"{prefix}.in"].partitions
    await ensure_topics(pipeline, settings)
    env = {
        **os.environ,
        "STREAMWORKS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "STREAMWORKS_REGISTRY_URL": settings.registry_url,
        "KIT_PREFIX": prefix,
    }
    log = tmp_path / "run.log"
    run = _start_run(env, log)
    timeline: dict[str, Any] = {"rate": RATE, "load_s": LOAD_SECONDS, "workers": []}
    started = time.monotonic()

    def mark(what: str) -> None:
        timeline.setdefault(what, round(time.monotonic() - started, 1))

    try:
        status = await _status_of(pipeline, settings)
        await wait_for(
            lambda: _workers(pipeline, settings, 1), timeout=60, what="the first slow worker"
        )
        feeding = asyncio.create_task(_feed(settings, f"{prefix}.in"))
        peak = 1
        while not feeding.done() or status.lag_records > 0:
            await asyncio.sleep(1)
            status = await _status_of(pipeline, settings)
            if status.lag_seconds >= BEHIND_S:
                mark("behind_at_s")
            if status.workers > peak:
                peak = status.workers
                timeline["workers"].append((round(time.monotonic() - started, 1), peak))
            if time.monotonic() - started > 240:
                raise AssertionError(f"the lag never drained: {status}\n{log.read_text()}")
        await feeding
        mark("caught_up_at_s")
        await wait_for(
            lambda: _workers(pipeline, settings, 1, exactly=True),
            timeout=120,
            what="the pool back to one worker",
        )
        mark("back_to_one_at_s")
    finally:
        code = _stop(run)
    output = log.read_text(errors="replace")
    timeline["recovery_s"] = round(timeline["caught_up_at_s"] - timeline["behind_at_s"], 1)
    _report(timeline)
    assert code == 0, output
    assert peak >= 2, f"the pool never grew: {timeline}\n{output}"
    assert peak <= partitions
    assert "autoscale: slow: 1 -> 2 workers" in output
    assert status.lag_records == 0


def _start_run(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``streamworks run`` of the slow pipeline with the slow stage autoscaled 1..4."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamworks",
                "run",
                "tests.kit.pipelines:slow_from_env",
                "--autoscale",
                "slow=1:4",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(run: subprocess.Popen[bytes]) -> int:
    """SIGTERM: the supervisor drains its workers; its exit code."""
    run.send_signal(signal.SIGTERM)
    return run.wait(timeout=90)


async def _status_of(pipeline: Any, settings: Settings) -> StageStatus:
    return (await collect_status(pipeline, settings)).stage("slow")


async def _workers(pipeline: Any, settings: Settings, count: int, *, exactly: bool = False) -> bool:
    found = (await _status_of(pipeline, settings)).workers
    return found == count if exactly else found >= count


async def _feed(settings: Settings, topic: str) -> None:
    """RATE records a second for LOAD_SECONDS, in tenth-of-a-second chunks."""
    codec = RecordCodec(
        Reading, AvroCodec(RegistryClient(settings.registry_url)), subject=f"{topic}-value"
    )
    records = [(r.sensor.encode(), codec.encode(r)) for r in feed(RATE * LOAD_SECONDS)]
    chunk = RATE // 10
    producer = clients.producer(settings)
    await producer.start()
    try:
        start = time.monotonic()
        for n, first in enumerate(range(0, len(records), chunk)):
            sent = [await producer.send(topic, v, key=k) for k, v in records[first : first + chunk]]
            await asyncio.gather(*sent)
            delay = start + (n + 1) * 0.1 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        await producer.stop()


def _report(timeline: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(timeline, indent=2, sort_keys=True) + "\n")
