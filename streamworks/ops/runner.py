"""Running one stage worker as a process: signals, stats, and a clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from typing import Any

from aiokafka.errors import KafkaError

from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.settings import Settings
from streamworks.kafka.security import check_login, explain
from streamworks.ops.lifeline import watch_parent
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.metrics import MetricsServer
from streamworks.runtime.processor import Counts
from streamworks.runtime.query import QueryServer
from streamworks.runtime.stats import StatsPublisher
from streamworks.runtime.topics import ensure_topics
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient

__all__ = ["run_worker", "worker_for"]

logger = logging.getLogger(__name__)


def worker_for(
    pipeline: Pipeline, stage: str, settings: Settings, codec: AvroCodec, **options: Any
) -> StageWorker | AggregationWorker:
    """The right worker for ``stage``: an aggregation worker for aggregations."""
    kind = StageWorker if pipeline.stages[stage].aggregation is None else AggregationWorker
    return kind(pipeline, stage, settings, codec, **options)


async def run_worker(
    pipeline: Pipeline, stage: str, settings: Settings, *, supervisor_pid: int | None = None
) -> Counts:
    """Run one worker of ``stage`` until SIGTERM or SIGINT; then drain, commit and leave.

    With ``supervisor_pid`` (the parent that started it), it does the same once that process
    is gone (:mod:`streamworks.ops.lifeline`). Every worker serves Prometheus ``/metrics``
    (:mod:`streamworks.runtime.metrics`); an aggregation worker also serves its table's
    queries (:mod:`streamworks.runtime.query`). Both addresses are published with its stats.
    """
    # with a users file, the worker logs in as its stage's own principal (see streamworks acl)
    settings = settings.as_principal(pipeline.group_id(stage))
    await check_login(settings)  # a refused login or certificate: one line, no retry loop
    try:
        return await _run(pipeline, stage, settings, supervisor_pid)
    except KafkaError as error:
        typed = explain(error, settings, reads=pipeline.reads(stage))
        if typed is None:
            raise
        raise typed from None


async def _run(
    pipeline: Pipeline, stage: str, settings: Settings, supervisor_pid: int | None
) -> Counts:
    # creating missing topics is idempotent, so any worker may start first; it sees only the
    # topics it uses (on a secured cluster, the only ones its principal may describe)
    await ensure_topics(pipeline, settings, only=pipeline.topics_of(stage))
    codec = AvroCodec(RegistryClient.from_settings(settings))
    worker = worker_for(pipeline, stage, settings, codec)
    worker_id = worker.worker_id
    server = None
    if isinstance(worker, AggregationWorker):
        server = QueryServer(worker, pipeline, settings, worker_id)
    metrics = MetricsServer(settings)

    def details() -> dict[str, Any]:
        served = server.details() if server is not None else {}
        return {**metrics.details(), **served, "missing_topics": worker.parts.topic_watch.missing}

    stats = StatsPublisher(
        settings,
        worker.counts,
        pipeline=pipeline.name,
        stage=stage,
        worker=worker_id,
        details=details,
    )
    # Long-lived setup objects (codecs, schemas, clients) need no more collection passes,
    # and per-record garbage is short-lived: fewer, younger collections mean fewer pauses.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    async with contextlib.AsyncExitStack() as running:  # stopped in reverse order
        if supervisor_pid is not None:  # watches until the very end, its grace included
            watch = asyncio.create_task(watch_parent(supervisor_pid, worker.stop))
            running.callback(watch.cancel)
        await metrics.start()
        running.push_async_callback(metrics.stop)
        if server is not None:
            await server.start()
            running.push_async_callback(server.stop)
        await stats.start()
        running.push_async_callback(stats.stop)
        await worker.run()
    return worker.counts
