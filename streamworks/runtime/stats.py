"""Per-worker counts published to a compacted topic, so any process can read a stage's figures.

Each worker writes its :class:`~streamworks.runtime.processor.Counts` (keyed by worker id) every few
seconds and when it stops. Reading the topic and keeping the latest value per worker gives
each stage's totals across its pool, restarts included (a restarted worker has a new id).
A record may carry more about its worker (an aggregation worker's query address and owned
partitions, see :mod:`streamworks.runtime.query`; the topics it finds missing, see
:mod:`streamworks.runtime.topic_watch`); the last record of a worker
that stopped cleanly says ``"stopped": true``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aiokafka import AIOKafkaProducer

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.security import explain
from streamworks.runtime.processor import Counts
from streamworks.runtime.topics import ensure_topic

__all__ = [
    "STATS_TOPIC",
    "StatsFollower",
    "StatsPublisher",
    "ensure_stats_topic",
    "read_latest",
    "read_stage_counts",
]

logger = logging.getLogger(__name__)

STATS_TOPIC = "_streamworks_stats"


async def ensure_stats_topic(settings: Settings) -> None:
    """Create the compacted stats topic when it is missing."""
    await ensure_topic(settings, STATS_TOPIC, config={"cleanup.policy": "compact"})


Details = Callable[[], dict[str, Any]]
"""More about a worker to publish with its counts; a change is published at once."""


class StatsPublisher:
    """Publishes one worker's counts every ``interval`` seconds until stopped.

    With ``details``, the record also carries what it returns; a change of it (a new
    partition assignment, say) or of the worker's missing topics is published within
    ``watch`` seconds, not at the next round.
    """

    def __init__(
        self,
        settings: Settings,
        counts: Counts,
        *,
        pipeline: str,
        stage: str,
        worker: str,
        interval: float = 2.0,
        details: Details | None = None,
        watch: float = 0.1,
    ) -> None:
        self._settings = settings
        self._key = f"{pipeline}/{stage}/{worker}".encode()
        self._meta = {"pipeline": pipeline, "stage": stage, "worker": worker}
        self._counts = counts
        self._interval = interval
        self._details = details
        self._watch = watch
        self._published: dict[str, Any] | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start publishing in the background."""
        await ensure_stats_topic(self._settings)
        self._producer = clients.producer(self._settings, client_id="streamworks-stats")
        await self._producer.start()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Publish the final figures and stop."""
        await _cancel(self._task)
        if self._producer is not None:
            await self.publish(stopped=True)
            await self._producer.stop()

    async def publish(self, *, stopped: bool = False) -> None:
        """Send the current counts (and details) now."""
        if self._producer is None:
            return
        details = self._current()
        value = {**self._meta, **details, "counts": asdict(self._counts), "at": time.time()}
        if stopped:
            value["stopped"] = True
        self._published = details  # a failed send is retried by the next round, not at once
        await self._producer.send_and_wait(STATS_TOPIC, json.dumps(value).encode(), key=self._key)

    def _current(self) -> dict[str, Any]:
        return self._details() if self._details is not None else {}

    async def _loop(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self._watch)
            due = time.monotonic() - last >= self._interval
            if not due and self._current() == self._published:
                continue
            last = time.monotonic()
            try:
                await self.publish()
            except Exception:  # figures are best effort; processing goes on
                logger.warning("could not publish stats of %s", self._key, exc_info=True)


async def read_latest(settings: Settings) -> dict[bytes, dict[str, Any]]:
    """The latest record of every worker that ever published, keyed pipeline/stage/worker."""
    consumer = clients.consumer(STATS_TOPIC, settings=settings, group_id=None)
    latest: dict[bytes, dict[str, Any]] = {}
    try:
        await consumer.start()
        end = await consumer.end_offsets(list(consumer.assignment()))

        async def behind() -> bool:
            return any([await consumer.position(tp) < offset for tp, offset in end.items()])

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key is not None and record.value is not None:
                        latest[record.key] = json.loads(record.value)
    finally:
        await consumer.stop()
    return latest


async def read_stage_counts(settings: Settings, pipeline: str) -> dict[str, Counts]:
    """Every stage's totals: the latest figures of each of its workers, summed."""
    totals: dict[str, Counts] = defaultdict(Counts)
    for value in (await read_latest(settings)).values():
        if value.get("pipeline") == pipeline:
            figures = value["counts"]
            assert isinstance(figures, dict)  # noqa: S101 - our own JSON
            totals[str(value["stage"])].add(Counts(**figures))
    return dict(totals)


class StatsFollower:
    """Keeps the latest record of every worker, following the stats topic in the background."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.latest: dict[bytes, dict[str, Any]] = {}
        """The latest record per worker key seen so far."""
        self._consumer = clients.consumer(STATS_TOPIC, settings=settings, group_id=None)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start following from the topic's start."""
        await ensure_stats_topic(self._settings)
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        """Stop following."""
        await _cancel(self._task)
        await self._consumer.stop()

    async def _follow(self) -> None:
        while True:
            try:
                for records in (await self._consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        if record.key is not None and record.value is not None:
                            self.latest[record.key] = json.loads(record.value)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the broker may be away for a while; the next round retries
                refused = explain(error, self._settings, reads=(STATS_TOPIC,))
                if refused is not None:  # no retry can help: say so once, without a traceback
                    logger.error("table queries cannot find other workers: %s", refused)  # noqa: TRY400 - the line says it all
                    return
                logger.warning("could not follow %s", STATS_TOPIC, exc_info=True)
                await asyncio.sleep(1.0)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
