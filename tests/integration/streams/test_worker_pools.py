"""Worker pools as processes: kill -9 mid-stream, and scaling a stage while data flows.

Figures (lost, duplicated, restarts) are written to .cache/reports/worker-pools.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from schemas.records import RawOrder
from streams.orders import OrderGenerator
from streams.orders.app import build
from streams.orders.observe import RoutedOrders
from streamworks.core.settings import Settings
from streamworks.ops.supervisor import Supervisor
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import KafkaEndpoint, produce, unique_name

REPORT = Path(".cache/reports/worker-pools.json")
ROUTING = ("clean", "format", "validate")
"""The stages that route every order to valid or invalid: what these tests count."""


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
        "STREAMWORKS_ORDERS_PREFIX": prefix,
        "STREAMWORKS_GUARANTEE": guarantee,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    await ensure_topics(build(), Settings())
    return prefix, env


async def _load(
    kafka: KafkaEndpoint, registry_url: str, prefix: str, count: int, seed: int
) -> set[str]:
    codec = RecordCodec(
        RawOrder, AvroCodec(RegistryClient(registry_url)), subject=f"{prefix}.raw-value"
    )
    orders = list(OrderGenerator(seed=seed).orders(count))
    await produce(
        kafka.bootstrap_servers,
        f"{prefix}.raw",
        [(o.order_id.encode(), codec.encode(o)) for o in orders],
    )
    return {o.order_id.strip().lower() for o in orders}


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
async def test_kill_9_of_a_worker_half_way_loses_nothing(
    kafka: KafkaEndpoint, registry_url: str, guarantee: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix, env = await _setup(kafka, registry_url, guarantee, monkeypatch)
    expected = await _load(kafka, registry_url, prefix, 20_000, seed=21)
    logs = Path(f".cache/reports/logs/{prefix}")
    supervisor = Supervisor("orders", dict.fromkeys(ROUTING, 2), env=env, log_dir=logs)
    supervisor.start()
    killed: int | None = None
    started = time.monotonic()
    try:
        async with RoutedOrders(
            kafka.bootstrap_servers, AvroCodec(RegistryClient(registry_url)), prefix
        ) as routed:
            deadline = time.monotonic() + 150
            while set(routed.ids) < expected and time.monotonic() < deadline:
                await routed.poll()
                supervisor.poll()
                if killed is None and len(routed.ids) >= len(expected) // 2:
                    victim = supervisor.workers("validate")[0].process
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
            "orders": len(expected),
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
    monkeypatch.setenv("STREAMWORKS_ORDERS_PARTITIONS", "3")  # room for three workers
    prefix, env = await _setup(kafka, registry_url, "at-least-once", monkeypatch)
    supervisor = Supervisor("orders", dict.fromkeys(ROUTING, 1), env=env)
    supervisor.start()
    expected: set[str] = set()
    sizes: list[int] = []
    try:
        async with RoutedOrders(
            kafka.bootstrap_servers, AvroCodec(RegistryClient(registry_url)), prefix
        ) as routed:
            for step, size in enumerate((3, 1, 1)):
                expected |= await _load(kafka, registry_url, prefix, 3_000, seed=100 + step)
                await routed.poll()
                supervisor.poll()
                supervisor.scale("validate", size)
                sizes.append(len(supervisor.workers("validate")))
            deadline = time.monotonic() + 180
            while set(routed.ids) < expected and time.monotonic() < deadline:
                await routed.poll()
                supervisor.poll()
    finally:
        supervisor.stop()
    lost = len(expected - set(routed.ids))
    _record("scale 1-3-1", {"orders": len(expected), "lost": lost, "pool_sizes": sizes})
    assert sizes == [3, 1, 1]
    assert lost == 0
