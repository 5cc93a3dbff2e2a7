"""Running a whole pipeline from Python: the in-process runner behind tests and notebooks.

::

    async with run_pipeline(pipeline, settings, workers={"clean": 2}) as running:
        ...  # produce inputs, read outputs; running.counts("clean") says what was done

On entry it validates the pipeline, creates its topics, registers its contracts, starts
the workers (one per stage unless ``workers`` says more) and waits until every stage's
input partitions are assigned, so what is produced next is processed at once. On exit each
worker drains, commits and leaves its group. Workers run as tasks on the caller's event
loop, or with ``processes=True`` as ``streamworks worker`` processes, as ``streamworks
run`` starts them. A worker that fails (say a stage that stopped itself on a bug) stops the
others and fails the ``async with`` block with its error, at once, rather than leaving a
test to wait for output that never comes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from pydantic import SecretStr

from streamworks.aggregate.worker import AggregationWorker
from streamworks.core.errors import ConfigurationError, StreamworksError
from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.reading import Seen, read_until
from streamworks.kafka.sending import acknowledged
from streamworks.ops.heap import settle_heap
from streamworks.ops.project import current, load_pipeline
from streamworks.ops.runner import worker_for
from streamworks.ops.status import collect_status
from streamworks.ops.supervisor import Supervisor
from streamworks.pipeline.graph import Pipeline
from streamworks.runtime.processor import Counts
from streamworks.runtime.topics import ensure_topics, register_contracts
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.records import AvroRecord
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import TypedCodec, codec_for

__all__ = [
    "ReadTimeoutError",
    "RunPipeline",
    "RunningPipeline",
    "WorkerFailedError",
    "run_pipeline",
]

Worker = StageWorker | AggregationWorker

_READY_TIMEOUT_S = 60.0

RunPipeline = Callable[..., AbstractAsyncContextManager["RunningPipeline"]]
"""The ``run_pipeline`` pytest fixture: ``run_pipeline(pipeline, workers={...}, **options)``
with the session's settings."""


class WorkerFailedError(StreamworksError):
    """A worker of a pipeline run by :func:`run_pipeline` stopped with an error."""


class ReadTimeoutError(StreamworksError):
    """Fewer records than asked for arrived on a topic in time."""


@dataclass
class RunningPipeline:
    """A pipeline whose workers are running; what :func:`run_pipeline` yields."""

    pipeline: Pipeline
    """The pipeline being run."""
    settings: Settings
    """The settings its workers use."""
    workers: dict[str, list[Worker]] = field(default_factory=dict)
    """Each stage's in-process workers (empty with ``processes=True``)."""
    supervisor: Supervisor | None = None
    """The worker processes' supervisor, with ``processes=True``."""
    error: BaseException | None = None
    """What stopped a worker, once one has failed."""

    async def send(
        self,
        topic: str,
        records: Iterable[AvroRecord],
        *,
        key: Callable[[Any], str | bytes] | None = None,
        partition: int | None = None,
    ) -> int:
        """Produce ``records`` to ``topic``, encoded as the pipeline declares it, keyed by
        ``key(record)`` (no key without it), to ``partition`` if given (else the key's);
        returns how many, once all are acknowledged."""
        codec = self._codec(topic)
        producer = clients.producer(self.settings)
        try:  # closed even when cancelled while it starts
            await producer.start()
            futures = [
                await producer.send(
                    topic, value=codec.encode(record), key=_key(key, record), partition=partition
                )
                for record in records
            ]
            await acknowledged(futures)
        finally:
            await producer.stop()
        return len(futures)

    async def read(
        self,
        topic: str,
        *,
        count: int | None = None,
        until: Callable[[list[Any]], bool] | None = None,
        within_s: float = 30.0,
    ) -> list[Any]:
        """``topic``'s records from its start, decoded, once at least ``count`` are there
        and ``until(records)`` holds (for an aggregation's updates: the latest counts).

        Reads without a consumer group (nothing is committed); fails with
        :class:`ReadTimeoutError`, saying how many arrived, after ``within_s`` seconds.
        """
        if count is None and until is None:
            raise ConfigurationError("read() needs count= or until=")
        codec = self._codec(topic)
        decoded: list[Any] = []

        def done(seen: Seen) -> bool:
            decoded.extend(codec.decode(record.value) for record in seen[len(decoded) :])
            if count is not None and len(decoded) < count:
                return False
            return until is None or until(decoded)

        await self._read(topic, done, within_s, f"{count} record(s)" if count else "the condition")
        return decoded

    async def dead_letters(
        self, stage: str, *, count: int, within_s: float = 30.0
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """``stage``'s dead letters as raw records (the original bytes; the reason in the
        ``streamworks.dlq.*`` headers), once at least ``count`` are there."""
        if stage not in self.pipeline.stages:
            raise ConfigurationError(f"pipeline {self.pipeline.name} has no stage {stage}")
        return await self._read(
            self.pipeline.dead_letter_topic(stage),
            lambda seen: len(seen) >= count,
            within_s,
            f"{count} record(s)",
        )

    async def _read(
        self, topic: str, done: Callable[[Seen], bool], within_s: float, wanted: str
    ) -> list[ConsumerRecord[bytes, bytes]]:
        seen, complete = await read_until(self.settings, [topic], done, within_s=within_s)
        if not complete:
            raise ReadTimeoutError(
                f"waited {within_s:.0f} s on {topic} for {wanted}: {len(seen)} record(s) arrived"
            )
        return seen

    def _codec(self, topic: str) -> TypedCodec[Any]:
        spec = self.pipeline.topics().get(topic)
        if spec is None or spec.record_type is None:
            raise ConfigurationError(
                f"{topic} is not a typed topic of pipeline {self.pipeline.name}; its topics: "
                + ", ".join(sorted(self.pipeline.topics()))
            )
        return codec_for(
            spec.record_type,
            AvroCodec(RegistryClient.from_settings(self.settings)),
            format=spec.format,
            subject=f"{topic}-value",
        )

    def counts(self, stage: str) -> Counts:
        """What ``stage``'s in-process workers have done (records counted once committed)."""
        if stage not in self.pipeline.stages:
            raise ConfigurationError(f"pipeline {self.pipeline.name} has no stage {stage}")
        if self.supervisor is not None:
            raise ConfigurationError(
                "counts() reads in-process workers; with processes=True use streamworks status"
            )
        total = Counts()
        for worker in self.workers.get(stage, []):
            total.add(worker.counts)
        return total


@asynccontextmanager
async def run_pipeline(
    pipeline: Pipeline | str,
    settings: Settings | None = None,
    *,
    workers: Mapping[str, int] | None = None,
    processes: bool | int = False,
    log_dir: Path | None = None,
    ready_timeout: float = _READY_TIMEOUT_S,
) -> AsyncIterator[RunningPipeline]:
    """Run ``pipeline``'s stages until the block ends (see the module's docs).

    ``pipeline`` is a :class:`Pipeline` or a reference (a pipeline named in the project, or
    ``package.module:attribute``); ``processes=True`` (a process per worker) or
    ``processes=N`` (the workers packed into N processes) needs a reference, since each
    process loads the pipeline itself, and writes each process's output to ``log_dir``.
    ``workers`` sizes the stages' pools (1 for a stage not named; 0 leaves it out).
    """
    found = load_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    found.validate()
    settings = settings or Settings()
    pools = _pools(found, workers or {})
    await ensure_topics(found, settings)
    await asyncio.to_thread(register_contracts, found, RegistryClient.from_settings(settings))
    if processes:
        if not isinstance(pipeline, str):
            raise ConfigurationError(
                "processes=True needs the pipeline's reference (its name in the project or "
                "package.module:attribute), since each worker process loads it"
            )
        async with _processes(
            found,
            pipeline,
            settings,
            pools,
            log_dir=log_dir,
            ready_timeout=ready_timeout,
            packed=None if processes is True else int(processes),
        ) as run:
            yield run
    else:
        async with _in_process(found, settings, pools, ready_timeout) as run:
            yield run


def _pools(pipeline: Pipeline, sizes: Mapping[str, int]) -> dict[str, int]:
    unknown = sorted(set(sizes) - set(pipeline.stages))
    if unknown:
        raise ConfigurationError(
            f"pipeline {pipeline.name} has no stage {', '.join(unknown)}; "
            f"stages: {', '.join(pipeline.stages)}"
        )
    if any(size < 0 for size in sizes.values()):
        raise ConfigurationError("a stage's number of workers cannot be negative")
    return {stage: sizes.get(stage, 1) for stage in pipeline.stages}


@asynccontextmanager
async def _in_process(
    pipeline: Pipeline, settings: Settings, pools: dict[str, int], ready_timeout: float
) -> AsyncIterator[RunningPipeline]:
    codec = AvroCodec(RegistryClient.from_settings(settings))
    running = RunningPipeline(pipeline, settings)
    for stage, size in pools.items():
        running.workers[stage] = [worker_for(pipeline, stage, settings, codec) for _ in range(size)]
    host = asyncio.current_task()

    async def run(worker: Worker) -> None:
        try:
            await worker.run()
        except Exception as error:
            if running.error is None:
                running.error = error
                for other in _all(running):
                    other.stop()
                if host is not None:
                    host.cancel()  # the block ends now, with this error (see below)
            raise

    tasks = [asyncio.create_task(run(worker)) for worker in _all(running)]
    try:
        await _until_assigned(running, ready_timeout)
        settle_heap()  # as a worker process does (see streamworks.ops.heap)
        yield running
    except asyncio.CancelledError:
        if running.error is None or host is None:
            raise
        host.uncancel()
        raise _failure(running.error) from running.error
    finally:
        for worker in _all(running):
            worker.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
    if running.error is not None:
        raise _failure(running.error) from running.error


def _key(key: Callable[[Any], str | bytes] | None, record: AvroRecord) -> bytes | None:
    if key is None:
        return None
    value = key(record)
    return value.encode() if isinstance(value, str) else value


def _all(running: RunningPipeline) -> list[Worker]:
    return [worker for pool in running.workers.values() for worker in pool]


def _failure(error: BaseException) -> StreamworksError:
    if isinstance(error, StreamworksError):
        return error
    return WorkerFailedError(f"a worker failed: {type(error).__name__}: {error}")


async def _until_assigned(running: RunningPipeline, within_s: float) -> None:
    """Wait until each stage's input partitions are all owned by its workers."""
    topics = running.pipeline.topics()
    wanted = {
        stage: sum(topics[topic].partitions for topic in running.pipeline.stages[stage].inputs)
        for stage, pool in running.workers.items()
        if pool
    }

    async def missing() -> list[str]:
        return [
            stage
            for stage, count in wanted.items()
            if sum(len(w.parts.member.assignment) for w in running.workers[stage]) < count
        ]

    await _until(missing, within_s, "were not assigned their input partitions")


async def _until(
    missing: Callable[[], Awaitable[list[str]]], within_s: float, failure: str
) -> None:
    """Poll ``missing()`` (the stages not ready) until it is empty or ``within_s`` passes."""
    deadline = time.monotonic() + within_s
    while stages := await missing():
        if time.monotonic() >= deadline:
            raise ConfigurationError(
                f"the workers of {', '.join(stages)} {failure} within {within_s:.0f} s; "
                "is the broker healthy? (with processes=True, see their output)"
            )
        await asyncio.sleep(0.1)


@asynccontextmanager
async def _processes(
    pipeline: Pipeline,
    reference: str,
    settings: Settings,
    pools: dict[str, int],
    *,
    log_dir: Path | None,
    ready_timeout: float,
    packed: int | None,
) -> AsyncIterator[RunningPipeline]:
    project = current()
    env = _environment(settings)
    if project is not None:
        env["STREAMWORKS_PROJECT"] = str(project.root)
    supervisor = Supervisor(
        reference,
        {s: n for s, n in pools.items() if n},
        env=env,
        log_dir=log_dir,
        processes=packed,
    )
    supervisor.start()
    running = RunningPipeline(pipeline, settings, supervisor=supervisor)
    try:
        await _until_members(running, pools, ready_timeout)
        yield running
    finally:
        await asyncio.to_thread(supervisor.stop)


async def _until_members(running: RunningPipeline, pools: dict[str, int], within_s: float) -> None:
    """Wait until each stage's group has all its worker processes as members."""
    supervisor = running.supervisor
    assert supervisor is not None  # noqa: S101 - only called with processes

    async def missing() -> list[str]:
        supervisor.poll()
        try:
            status = await collect_status(running.pipeline, running.settings)
        except (StreamworksError, KafkaError, OSError):
            return list(pools)  # the groups may not exist yet
        return [stage for stage, size in pools.items() if status.stage(stage).workers < size]

    await _until(missing, within_s, "did not all join their groups")


def _environment(settings: Settings) -> dict[str, str]:
    """``STREAMWORKS_*`` variables that make a worker process read ``settings``."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, str | int | float | bool | Path):
            text = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            text = json.dumps(value)
        env[f"STREAMWORKS_{name.upper()}"] = text
    return env
