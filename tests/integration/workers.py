"""In-process worker pools, and typed records to and from topics, for integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from aiokafka import ConsumerRecord

from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.settings import Settings
from streamworks.ops.runner import worker_for
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.stats import StatsPublisher
from streamworks.runtime.topics import ensure_topics
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import produce
from tests.kit.builders import feed
from tests.kit.pipelines import sensor_pipeline

__all__ = [
    "Worker",
    "decode_all",
    "produce_records",
    "publishing_workers",
    "sensors_with_readings",
    "workers",
]

Worker = StageWorker | AggregationWorker
"""Either kind of in-process worker."""
R = TypeVar("R", bound=AvroRecord)


@asynccontextmanager
async def workers(
    pipeline: Pipeline, settings: Settings, per_stage: int, stages: Iterable[str] | None = None
) -> AsyncIterator[list[Worker]]:
    """``per_stage`` in-process workers for every stage, stopped (and committed) on exit."""
    pool = [
        worker_for(pipeline, stage, settings, AvroCodec(RegistryClient(settings.registry_url)))
        for stage in (pipeline.stages if stages is None else stages)
        for _ in range(per_stage)
    ]
    tasks = [asyncio.create_task(w.run()) for w in pool]
    try:
        yield pool
    finally:
        for worker in pool:
            worker.stop()
        await asyncio.gather(*tasks)


@asynccontextmanager
async def publishing_workers(
    pipeline: Pipeline, settings: Settings, stage: str, count: int
) -> AsyncIterator[list[Worker]]:
    """``count`` workers of ``stage`` that publish their stats, as ``streamworks worker`` does."""
    async with workers(pipeline, settings, per_stage=count, stages=[stage]) as pool:
        async with AsyncExitStack() as publishing:
            for number, worker in enumerate(pool):
                stats = StatsPublisher(
                    settings,
                    worker.counts,
                    pipeline=pipeline.name,
                    stage=stage,
                    worker=f"{stage}-{number}",
                    interval=0.5,
                )
                await stats.start()
                publishing.push_async_callback(stats.stop)
            yield pool


async def produce_records(
    settings: Settings,
    topic: str,
    records: Sequence[R],
    key: Callable[[R], str],
    *,
    extra: Sequence[tuple[int, bytes | None, bytes | None]] = (),
) -> None:
    """Encode ``records`` under ``<topic>-value`` and produce them keyed by ``key``.

    ``extra`` are raw ``(index, key, value)`` records (a poison record, say) inserted
    before the encoded record at ``index``.
    """
    if not records:
        return
    codec = RecordCodec(
        type(records[0]),
        AvroCodec(RegistryClient(settings.registry_url)),
        subject=f"{topic}-value",
    )
    encoded: list[tuple[bytes | None, bytes | None]] = [
        (key(r).encode(), codec.encode(r)) for r in records
    ]
    for index, raw_key, value in sorted(extra, key=lambda e: e[0], reverse=True):
        encoded.insert(index, (raw_key, value))
    await produce(settings.bootstrap_servers, topic, encoded)


def decode_all(
    registry: str, kind: type[R], records: Iterable[ConsumerRecord[bytes, bytes]]
) -> list[R]:
    """Decode every record's value as ``kind``."""
    codec = RecordCodec(kind, AvroCodec(RegistryClient(registry)), register=False)
    return [codec.decode(r.value) for r in records]


async def sensors_with_readings(settings: Settings, prefix: str, count: int) -> Pipeline:
    """The kit's sensor pipeline on topics of its own (``<prefix>.*``), ``count`` readings in."""
    pipeline = sensor_pipeline(prefix)
    await ensure_topics(pipeline, settings)
    await produce_records(settings, f"{prefix}.readings", feed(count), key=lambda r: r.sensor)
    return pipeline
