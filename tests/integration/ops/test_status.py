"""``streamworks status`` on the real broker: lag on the stage that is not keeping up.

The flagship pipeline on fresh topics, with ``clean`` run by two in-process workers and
``format`` not running at first: format's input fills up, so it is the bottleneck; once a
format worker runs, its lag drains to 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from streamworks.core.settings import Settings
from streamworks.ops.status import PipelineStatus, StatusCollector, collect_status
from streamworks.testing import KafkaEndpoint, unique_name, wait_for
from streamworks.testing.registry import RegistryThread
from tests.integration.streams.kit import flagship_with_orders, publishing_workers

pytestmark = pytest.mark.asyncio(loop_scope="session")

ORDERS = 300


async def json_status(kafka: KafkaEndpoint, prefix: str) -> dict[str, Any]:
    """``streamworks status orders --json`` for the prefixed flagship, parsed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamworks",
        "status",
        "orders",
        "--json",
        env={
            **os.environ,
            "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "STREAMWORKS_ORDERS_PREFIX": prefix,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    parsed = json.loads(out)
    assert isinstance(parsed, dict)
    return parsed


async def test_status_shows_the_lagging_stage_as_the_bottleneck_until_it_drains(
    kafka: KafkaEndpoint, schema_registry: RegistryThread
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=schema_registry.url)
    prefix = unique_name("status")
    pipeline = await flagship_with_orders(settings, prefix, ORDERS, seed=7)

    async with (
        publishing_workers(pipeline, settings, "clean", 2),
        StatusCollector(pipeline, settings) as collector,
    ):
        latest: list[PipelineStatus] = []

        async def clean_done_format_behind() -> bool:
            latest[:] = [await collector.sample()]
            clean, fmt = latest[0].stage("clean"), latest[0].stage("format")
            return (
                clean.workers == 2
                and clean.lag_records == 0
                and clean.records_in == ORDERS
                and fmt.lag_records == ORDERS
            )

        await wait_for(clean_done_format_behind, timeout=90, what="clean done, format behind")
        status = latest[0]
        clean, fmt = status.stage("clean"), status.stage("format")
        assert (clean.partitions, clean.out + clean.filtered + clean.dead_lettered) == (2, ORDERS)
        assert fmt.workers == 0
        assert fmt.lag_seconds > 0
        assert status.bottleneck == "format"
        assert fmt.bottleneck
        assert not clean.bottleneck
        assert [s.name for s in status.stages] == list(s.name for s in pipeline.order())

        data = await json_status(kafka, prefix)
        assert data["bottleneck"] == "format"
        stages = {s["name"]: s for s in data["stages"]}
        assert stages["format"]["lag_records"] == ORDERS
        assert stages["clean"]["workers"] == 2

    async with publishing_workers(pipeline, settings, "format", 1):

        async def format_drained() -> bool:
            now = await collect_status(pipeline, settings)
            latest[:] = [now]
            return now.stage("format").lag_records == 0 and now.stage("format").workers == 1

        await wait_for(format_drained, timeout=90, what="format's lag drained")
        drained = latest[0].stage("format")
        assert drained.lag_seconds == 0
        assert not drained.bottleneck
        assert latest[0].bottleneck == "validate"  # format's output now waits for validate
