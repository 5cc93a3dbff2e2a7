"""Worker pools as processes: kill -9 mid-stream, and scaling a stage while data flows.

Figures (lost, duplicated, restarts) are written to .cache/reports/worker-pools.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint, unique_name
from tests.integration.workers import produce_records
from tests.kit.builders import feed
from tests.kit.pipelines import sensors_from_env
from tests.kit.records import Alarm, Label

REPORT = Path(".cache/reports/worker-pools.json")
APP = "tests.kit.pipelines:sensors_from_env"
ROUTING = ("clean", "scale", "classify")
"""The stages that route every reading to labels or alarms: what these tests count."""


class Routed:
    """How often each sensor arrived on ``<prefix>.labels`` or ``<prefix>.alarms``.

    Reads committed records only, from the start; call :meth:`poll` repeatedly. Every
    reading of these tests is of its own sensor, so a sensor seen twice is a duplicate.
    """

    def __init__(self, bootstrap_servers: str, registry_url: str, prefix: str) -> None:
        codec = AvroCodec(RegistryClient(registry_url))
        self._labels = f"{prefix}.labels"
        self._label = RecordCodec(Label, codec, register=False)
        self._alarm = RecordCodec(Alarm, codec, register=False)
        self.ids: Counter[str] = Counter()
        """Sensor -> how many times it was read."""
        self._consumer = AIOKafkaConsumer(
            self._labels,
            f"{prefix}.alarms",
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )

    async def __aenter__(self) -> Routed:
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_ms: int = 300) -> None:
        """Read what arrived since the last poll."""
        for records in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            for r in records:
                if r.topic == self._labels:
                    self.ids[self._label.decode(r.value).sensor] += 1
                else:
                    self.ids[self._alarm.decode(r.value).reading.sensor] += 1


def _record(name: str, figures: dict[str, Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    data[name] = figures
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


async def _setup(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dict[str, str]]:
    prefix = unique_name("pool")
    env = {
        "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "STREAMWORKS_REGISTRY_URL": registry_url,
        "KIT_PREFIX": prefix,
        "STREAMWORKS_GUARANTEE": guarantee,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    await ensure_topics(sensors_from_env(), Settings())
    return prefix, env


async def _load(
    kafka: KafkaEndpoint, registry_url: str, prefix: str, count: int, start: int
) -> set[str]:
    """``count`` readings, each of its own sensor, from sensor number ``start``."""
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    readings = feed(count, start=start)
    await produce_records(settings, f"{prefix}.readings", readings, key=lambda r: r.sensor)
    return {r.sensor for r in readings}


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
async def test_kill_9_of_a_worker_half_way_loses_nothing(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix, env = await _setup(kafka, registry_url, guarantee, monkeypatch)
    expected = await _load(kafka, registry_url, prefix, 20_000, start=0)
    logs = Path(f".cache/reports/logs/{prefix}")
    supervisor = Supervisor(APP, dict.fromkeys(ROUTING, 2), env=env, log_dir=logs)
    supervisor.start()
    killed: int | None = None
    started = time.monotonic()
    try:
        async with Routed(kafka.bootstrap_servers, registry_url, prefix) as routed:
            deadline = time.monotonic() + 150
            while set(routed.ids) < expected and time.monotonic() < deadline:
                await routed.poll()
                supervisor.poll()
                if killed is None and len(routed.ids) >= len(expected) // 2:
                    victim = supervisor.workers("classify")[0].process
                    os.kill(victim.pid, signal.SIGKILL)
                    killed = len(routed.ids)
            await asyncio.sleep(2)  # stragglers: duplicates appear after the last first copy
            await routed.poll()
    finally:
        supervisor.stop()
    lost = len(expected - set(routed.ids))
    duplicated = sum(n - 1 for n in routed.ids.values() if n > 1)
    _record(
        f"kill-9 {guarantee}",
        {
            "readings": len(expected),
            "killed_at_routed": killed,
            "lost": lost,
            "duplicated": duplicated,
            "restarts": supervisor.restarts,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    assert killed is not None, "the run finished before the kill"
    assert supervisor.restarts >= 1
    assert lost == 0
    if guarantee == "exactly-once":
        assert duplicated == 0


async def test_scaling_a_stage_1_3_1_while_data_flows_loses_nothing(
    kafka: KafkaEndpoint, registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_PARTITIONS", "3")  # room for three workers
    prefix, env = await _setup(kafka, registry_url, "at-least-once", monkeypatch)
    supervisor = Supervisor(APP, dict.fromkeys(ROUTING, 1), env=env)
    supervisor.start()
    expected: set[str] = set()
    sizes: list[int] = []
    try:
        async with Routed(kafka.bootstrap_servers, registry_url, prefix) as routed:
            for step, size in enumerate((3, 1, 1)):
                expected |= await _load(kafka, registry_url, prefix, 3_000, start=step * 3_000)
                await routed.poll()
                supervisor.poll()
                supervisor.scale("classify", size)
                sizes.append(len(supervisor.workers("classify")))
            deadline = time.monotonic() + 180
            while set(routed.ids) < expected and time.monotonic() < deadline:
                await routed.poll()
                supervisor.poll()
    finally:
        supervisor.stop()
    lost = len(expected - set(routed.ids))
    _record("scale 1-3-1", {"readings": len(expected), "lost": lost, "pool_sizes": sizes})
    assert sizes == [3, 1, 1]
    assert lost == 0
