"""Prometheus /metrics on the real broker: a stage worker, a connector worker, the registry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from streamworks.connectors.files import FileSourceConfig, JsonlSinkConfig
from streamworks.core.settings import Settings
from streamworks.runtime.metrics import MetricsServer
from streamworks.runtime.topics import ensure_topics
from streamworks.schemas.catalog import contract_of
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing import KafkaEndpoint, unique_name, wait_for
from streamworks.testing.connectors import running
from streamworks.testing.helpers import TopicFactory
from streamworks.testing.registry import RegistryThread
from tests.integration.workers import produce_records, workers
from tests.kit.builders import feed
from tests.kit.pipelines import sensor_pipeline
from tests.kit.records import Reading

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    """Every sample at ``url``, keyed by name and labels."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample ``name`` whose labels include ``labels`` (summed when several match)."""
    wanted = set(labels.items())
    found = [v for (n, have), v in samples.items() if n == name and wanted <= have]
    return sum(found) if found else None


def labelled(samples: Samples, name: str, **labels: str) -> Iterable[dict[str, str]]:
    wanted = set(labels.items())
    return [dict(have) for (n, have) in samples if n == name and wanted <= have]


async def test_a_stage_worker_serves_its_counts_and_lag(
    kafka: KafkaEndpoint, registry_url: str
) -> None:
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, registry_url=registry_url)
    prefix = unique_name("metrics")
    pipeline = sensor_pipeline(prefix)
    await ensure_topics(pipeline, settings)
    readings = [*feed(299), Reading("s-nan", float("nan"), feed(1)[0].at)]  # one filtered
    await produce_records(
        settings,
        f"{prefix}.readings",
        readings,
        key=lambda r: r.sensor,
        extra=[(len(readings), b"poison", b"\x00\x00\x00\x00\x09not avro")],
    )
    records = len(readings) + 1

    server = MetricsServer(settings)
    await server.start()
    try:
        async with workers(pipeline, settings, per_stage=1, stages=["clean"]) as [worker]:
            url = f"http://{server.address}/metrics"
            mine = {"pipeline": prefix, "stage": "clean", "worker": worker.worker_id}
            samples: Samples = {}

            async def counted() -> bool:
                nonlocal samples
                samples = await scrape(url)
                lag = labelled(samples, "streamworks_lag_records", **mine)
                done = value(samples, "streamworks_records_in_total", **mine) == records
                return done and bool(lag)

            await wait_for(counted, timeout=60, what=f"{records} records in /metrics")
            assert value(samples, "streamworks_records_dead_lettered_total", **mine) == 1
            assert value(samples, "streamworks_records_filtered_total", **mine) == 1
            assert value(samples, "streamworks_records_produced_total", **mine) == records - 2
            # clean writes one record per input it keeps: out (written) is the same figure
            assert value(samples, "streamworks_records_out_total", **mine) == records - 2
            assert (value(samples, "streamworks_batch_records_sum", **mine) or 0) >= records
            assert (value(samples, "streamworks_commit_seconds_count", **mine) or 0) >= 1
            assert (value(samples, "streamworks_rebalances_total", **mine) or 0) >= 1
            partitions = {
                labels["partition"]
                for labels in labelled(samples, "streamworks_lag_records", **mine)
                if labels["topic"] == f"{prefix}.readings"
            }
            assert partitions  # a gauge per owned partition that has been fetched

            async def caught_up() -> bool:
                got = await scrape(url)
                return value(got, "streamworks_lag_records", **mine) == 0

            await wait_for(caught_up, timeout=30, what="lag 0 in /metrics")
    finally:
        await server.stop()


async def test_a_connect_worker_serves_connector_figures(
    kafka_settings: Settings,
    schema_registry: RegistryThread,
    topic_factory: TopicFactory,
    tmp_path: Path,
) -> None:
    registry = schema_registry.url
    settings = kafka_settings.model_copy(update={"registry_url": registry})
    topic = await topic_factory("metrics-readings", partitions=3)
    RegistryClient(registry).register(f"{topic}-value", contract_of(Reading).schema_str)
    count = 200
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = [
        json.dumps({"sensor": r.sensor, "value": r.value, "at": r.at.isoformat()})
        for r in feed(count)
    ]
    (inbox / "readings.jsonl").write_text("\n".join(lines) + "\n")
    source = FileSourceConfig(
        name=unique_name("files"), topic=topic, directory=inbox, settle_s=0.2, batch_lines=50
    )
    sink = JsonlSinkConfig(name=unique_name("lines"), topics=[topic], directory=tmp_path / "out")
    async with running([source, sink], settings) as worker:
        assert worker.metrics.address is not None
        url = f"http://{worker.metrics.address}/metrics"
        samples: Samples = {}

        async def written() -> bool:
            nonlocal samples
            samples = await scrape(url)
            got = value(samples, "streamworks_connector_records_written_total", connector=sink.name)
            return got == count

        await wait_for(written, timeout=60, what=f"{count} records written in /metrics")
        produced = value(
            samples, "streamworks_connector_records_produced_total", connector=source.name
        )
        assert produced == count
        assert value(samples, "streamworks_connector_write_seconds_count", connector=sink.name)

    # the registry the file source asked for its schema counts that request by route
    samples = await scrape(f"{registry}/metrics")
    routes = {
        labels["route"] for labels in labelled(samples, "streamworks_registry_requests_total")
    }
    assert "/subjects/{subject}/versions" in routes
