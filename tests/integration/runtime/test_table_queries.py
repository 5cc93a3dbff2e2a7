"""Table queries on the real broker: any worker answers for any key, and so does the CLI."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from typer.testing import CliRunner

from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.settings import Settings
from streamworks.ops.cli import app
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.query import QueryServer, key_partition
from streamworks.runtime.stats import StatsPublisher
from streamworks.runtime.topics import ensure_topics
from streamworks.testing import KafkaEndpoint, consume_until, unique_name, wait_for
from tests.integration.workers import Worker, produce_records, workers
from tests.kit.builders import reading
from tests.kit.pipelines import totals_pipeline, totals_truth

_PIPELINE_VARIABLE = "STREAMWORKS_TEST_TABLES_PIPELINE"


def tables_pipeline() -> Pipeline:
    """The test's pipeline, for the CLI's ``module:attribute`` reference."""
    return totals_pipeline(os.environ[_PIPELINE_VARIABLE])


@asynccontextmanager
async def serving(
    pool: list[Worker], pipeline: Pipeline, settings: Settings
) -> AsyncIterator[list[QueryServer]]:
    """What ``run_worker`` adds to each aggregation worker: a query server and its stats."""
    servers: list[QueryServer] = []
    async with AsyncExitStack() as running:
        for n, worker in enumerate(w for w in pool if isinstance(w, AggregationWorker)):
            server = QueryServer(worker, pipeline, settings, f"worker-{n}")
            await server.start()
            running.push_async_callback(server.stop)
            stats = StatsPublisher(
                settings,
                worker.counts,
                pipeline=pipeline.name,
                stage=worker.stage.name,
                worker=server.worker_id,
                details=server.details,
            )
            await stats.start()
            running.push_async_callback(stats.stop)
            servers.append(server)
        yield servers


async def _get(address: str | None, stage: str, key: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{address}/tables/{stage}/{key}") as response,
    ):
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_any_worker_answers_with_the_owners_value_and_so_does_the_cli(
    kafka: KafkaEndpoint, registry_url: str, tmp_path: Path
) -> None:
    bootstrap = kafka.bootstrap_servers
    settings = Settings(
        bootstrap_servers=bootstrap,
        registry_url=registry_url,
        state_dir=tmp_path,
        guarantee="exactly-once",
    )
    name = unique_name("tables")
    pipeline = totals_pipeline(name)
    await ensure_topics(pipeline, settings)
    sent = [reading(f"s{n % 13}", n, float(n)) for n in range(400)]
    await produce_records(settings, f"{name}.in", sent, key=lambda r: r.sensor)
    truth = totals_truth(sent)
    cli_env = {
        _PIPELINE_VARIABLE: name,
        "STREAMWORKS_BOOTSTRAP_SERVERS": bootstrap,
        "STREAMWORKS_REGISTRY_URL": registry_url,
    }
    reference = f"{__name__}:tables_pipeline"

    async def cli(*args: str) -> tuple[int, str, str]:
        # in a thread: the command runs its own event loop
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["table", "get", reference, *args], env=cli_env
        )
        return result.exit_code, result.stdout, result.stderr

    async with (
        workers(pipeline, settings, per_stage=2, stages=["totals.repartition", "totals"]) as pool,
        serving(pool, pipeline, settings) as servers,
    ):
        await consume_until(
            bootstrap,
            f"{name}.out",
            until=lambda s: len(s) >= len(sent),
            timeout=90,
            isolation_level="read_committed",
        )
        by_id = {server.worker_id: server for server in servers}
        await wait_for(
            lambda: (
                sorted(p for s in servers for p in s.details()["partitions"]) == [0, 1]
                and all(s.details()["partitions"] for s in servers)
            ),
            what="each of the two workers to own one partition",
        )
        for sensor, (count, total) in sorted(truth.items()):
            partition = key_partition(pipeline, "totals", sensor)
            asked = next(s for s in servers if partition not in s.details()["partitions"])
            status, body = await _get(asked.address, "totals", sensor)
            assert status == 200, body
            assert body["routed_from"] == asked.worker_id
            assert partition in by_id[body["worker"]].details()["partitions"]
            assert (body["key"], body["partition"]) == (sensor, partition)
            assert (body["value"]["count"], body["value"]["sum"]) == (count, total)

        code, out, _ = await cli("totals", "s5")
        assert code == 0
        answer = json.loads(out)
        assert (answer["value"]["count"], answer["value"]["sum"]) == truth["s5"]
        code, _, err = await cli("totals", "nobody")
        assert code == 1
        assert err.strip() == "error: key 'nobody' has no value in totals"
        code, _, err = await cli("totals.repartition", "s5")
        assert code == 1
        assert "has no aggregation stage 'totals.repartition'; tables: totals" in err

    code, _, err = await cli("totals", "s5")  # the workers published their stop
    assert code == 1
    assert f"no worker of stage totals of pipeline {name} is running" in err
