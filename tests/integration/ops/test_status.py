"""``streamworks status`` on the real broker: lag on the stage that is not keeping up.

The kit's sensor pipeline on fresh topics, with ``clean`` run by two in-process workers and
``scale`` not running at first: scale's input fills up, so it is the bottleneck; once a
scale worker runs, its lag drains to 0.
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
from tests.integration.workers import publishing_workers, sensors_with_readings

pytestmark = pytest.mark.asyncio(loop_scope="session")

READINGS = 300
APP = "tests.kit.pipelines:sensors_from_env"


async def json_status(kafka: KafkaEndpoint, prefix: str) -> dict[str, Any]:
    """``streamworks status <the kit's pipeline> --json`` for ``prefix``, parsed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "streamworks",
        "status",
        APP,
        "--json",
        env={
            **os.environ,
            "STREAMWORKS_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "KIT_PREFIX": prefix,
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
    pipeline = await sensors_with_readings(settings, prefix, READINGS)

    async with (
        publishing_workers(pipeline, settings, "clean", 2),
        StatusCollector(pipeline, settings) as collector,
    ):
        latest: list[PipelineStatus] = []

        async def clean_done_scale_behind() -> bool:
            latest[:] = [await collector.sample()]
            clean, scale = latest[0].stage("clean"), latest[0].stage("scale")
            return (
                clean.workers == 2
                and clean.lag_records == 0
                and clean.records_in == READINGS
                and scale.lag_records == READINGS
            )

        await wait_for(clean_done_scale_behind, timeout=90, what="clean done, scale behind")
        status = latest[0]
        clean, scale = status.stage("clean"), status.stage("scale")
        assert clean.kind == "stage"
        assert (clean.folded, clean.late) == (None, None)
        assert clean.produced is not None
        assert (clean.partitions, clean.produced + clean.filtered + clean.dead_lettered) == (
            2,
            READINGS,
        )
        assert clean.out == clean.produced  # clean writes one record per input it keeps
        assert scale.workers == 0
        assert scale.lag_seconds > 0
        assert status.bottleneck == "scale"
        assert scale.bottleneck
        assert not clean.bottleneck
        assert [s.name for s in status.stages] == list(s.name for s in pipeline.order())

        data = await json_status(kafka, prefix)
        assert data["bottleneck"] == "scale"
        stages = {s["name"]: s for s in data["stages"]}
        assert stages["scale"]["lag_records"] == READINGS
        assert stages["clean"]["workers"] == 2
        clean_data = stages["clean"]
        assert (clean_data["kind"], clean_data["folded"], clean_data["late"]) == (
            "stage",
            None,
            None,
        )
        assert clean_data["records_in"] == (
            clean_data["produced"] + clean_data["filtered"] + clean_data["dead_lettered"]
        )
        assert (stages["totals"]["kind"], stages["totals"]["produced"]) == ("aggregation", None)
        assert stages["totals"]["late"] == 0  # not running yet: nothing folded, nothing late

    async with publishing_workers(pipeline, settings, "scale", 1):

        async def scale_drained() -> bool:
            now = await collect_status(pipeline, settings)
            latest[:] = [now]
            return now.stage("scale").lag_records == 0 and now.stage("scale").workers == 1

        await wait_for(scale_drained, timeout=90, what="scale's lag drained")
        drained = latest[0].stage("scale")
        assert drained.lag_seconds == 0
        assert not drained.bottleneck
        assert latest[0].bottleneck == "classify"  # scale's output now waits for classify
