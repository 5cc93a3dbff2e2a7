"""Running one stage worker as a process: signals, stats, and a clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, TypeVar

from aiokafka.errors import KafkaError

from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.settings import Settings
from streamworks.kafka.security import check_login, explain
from streamworks.ops.heap import settle_heap
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

__all__ = ["run_worker", "run_workers", "worker_for"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


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
    counts = await run_workers(pipeline, [stage], settings, supervisor_pid=supervisor_pid)
    return counts[stage]


async def run_workers(
    pipeline: Pipeline,
    stages: Sequence[str],
    settings: Settings,
    *,
    supervisor_pid: int | None = None,
) -> dict[str, Counts]:
    """Run one worker of each of ``stages`` in this process and event loop, as
    :func:`run_worker` runs one; return each stage's counts.

    Packed this way each stage keeps what makes it a stage: its own consumer group, its own
    producers and transactions, its own login (on a secured cluster), counts and stats;
    they share the process, its event loop and one ``/metrics`` server. A worker that fails
    stops the others (each drains and commits what it finished) and the process ends with
    its error, so a supervisor restarts them together.
    """
    # with a users file, each worker logs in as its stage's principal (streamworks acl)
    logins = {stage: settings.as_principal(pipeline.group_id(stage)) for stage in stages}
    workers: dict[str, StageWorker | AggregationWorker] = {}
    for stage, own in logins.items():
        await check_login(own)  # a refused login or certificate: one line, no retry loop
        workers[stage] = await _explained(pipeline, stage, own, _prepare(pipeline, stage, own))
    metrics = MetricsServer(settings)
    async with contextlib.AsyncExitStack() as running:  # stopped in reverse order
        await metrics.start()
        running.push_async_callback(metrics.stop)
        for stage, worker in workers.items():
            await _serve(worker, pipeline, stage, logins[stage], metrics=metrics, running=running)
        settle_heap()  # start-up is over: fewer, younger collections from here on
        stop_all = functools.partial(_stop_all, workers.values())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_all)
        if supervisor_pid is not None:  # watches until the very end, its grace included
            watch = asyncio.create_task(watch_parent(supervisor_pid, stop_all))
            running.callback(watch.cancel)
        await _run_together(pipeline, workers, logins)
    return {stage: worker.counts for stage, worker in workers.items()}


async def _prepare(
    pipeline: Pipeline, stage: str, settings: Settings
) -> StageWorker | AggregationWorker:
    # creating missing topics is idempotent, so any worker may start first; it sees only the
    # topics it uses (on a secured cluster, the only ones its principal may describe)
    await ensure_topics(pipeline, settings, only=pipeline.topics_of(stage))
    codec = AvroCodec(RegistryClient.from_settings(settings))
    return worker_for(pipeline, stage, settings, codec)


async def _explained(pipeline: Pipeline, stage: str, settings: Settings, step: Awaitable[T]) -> T:
    """``step``, with a Kafka error the login or ACLs explain raised as that explanation."""
    try:
        return await step
    except KafkaError as error:
        typed = explain(error, settings, reads=pipeline.reads(stage))
        if typed is None:
            raise
        raise typed from None


async def _serve(
    worker: StageWorker | AggregationWorker,
    pipeline: Pipeline,
    stage: str,
    settings: Settings,
    *,
    metrics: MetricsServer,
    running: contextlib.AsyncExitStack,
) -> None:
    """Start what serves ``worker`` from the outside: its table's queries, its stats."""
    server = None
    if isinstance(worker, AggregationWorker):
        server = QueryServer(worker, pipeline, settings, worker.worker_id)
        await server.start()
        running.push_async_callback(server.stop)

    def details() -> dict[str, Any]:
        served = server.details() if server is not None else {}
        return {**metrics.details(), **served, "missing_topics": worker.parts.topic_watch.missing}

    stats = StatsPublisher(
        settings,
        worker.counts,
        pipeline=pipeline.name,
        stage=stage,
        worker=worker.worker_id,
        details=details,
    )
    await stats.start()
    running.push_async_callback(stats.stop)


def _stop_all(workers: Iterable[StageWorker | AggregationWorker]) -> None:
    for worker in workers:
        worker.stop()


async def _run_together(
    pipeline: Pipeline,
    workers: dict[str, StageWorker | AggregationWorker],
    logins: dict[str, Settings],
) -> None:
    """Run the workers until all have stopped; the first to fail stops the others, and its
    error is raised once they have drained."""
    failure: BaseException | None = None

    async def one(stage: str, worker: StageWorker | AggregationWorker) -> None:
        nonlocal failure
        try:
            await _explained(pipeline, stage, logins[stage], worker.run())
        except BaseException as error:  # noqa: BLE001 - raised below, once all have drained
            if failure is None:
                failure = error
                if len(workers) > 1:
                    logger.warning("worker of %s failed; stopping the others: %s", stage, error)
                _stop_all(workers.values())

    await asyncio.gather(*(one(stage, worker) for stage, worker in workers.items()))
    if failure is not None:
        raise failure
