"""Per-worker counts published to a compacted topic, so any process can read a stage's figures.

Each worker writes its :class:`~streams.processor.Counts` (keyed by worker id) every few
seconds and when it stops. Reading the topic and keeping the latest value per worker gives
each stage's totals across its pool, restarts included (a restarted worker has a new id).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import asdict

from aiokafka import AIOKafkaProducer

from streams import clients
from streams.processor import Counts
from streams.settings import Settings
from streams.topics import ensure_topic

__all__ = ["STATS_TOPIC", "StatsPublisher", "ensure_stats_topic", "read_stage_counts"]

logger = logging.getLogger(__name__)

STATS_TOPIC = "_streamworks_stats"


async def ensure_stats_topic(settings: Settings) -> None:
    """Create the compacted stats topic when it is missing."""
    await ensure_topic(settings, STATS_TOPIC, config={"cleanup.policy": "compact"})


class StatsPublisher:
    """Publishes one worker's counts every ``interval`` seconds until stopped."""

    def __init__(
        self,
        settings: Settings,
        counts: Counts,
        *,
        pipeline: str,
        stage: str,
        worker: str,
        interval: float = 2.0,
    ) -> None:
        self._settings = settings
        self._key = f"{pipeline}/{stage}/{worker}".encode()
        self._meta = {"pipeline": pipeline, "stage": stage, "worker": worker}
        self._counts = counts
        self._interval = interval
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._producer is not None:
            await self.publish()
            await self._producer.stop()

    async def publish(self) -> None:
        """Send the current counts now."""
        if self._producer is None:
            return
        value = {**self._meta, "counts": asdict(self._counts), "at": time.time()}
        await self._producer.send_and_wait(STATS_TOPIC, json.dumps(value).encode(), key=self._key)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.publish()
            except Exception:  # figures are best effort; processing goes on
                logger.warning("could not publish stats of %s", self._key, exc_info=True)


async def read_stage_counts(settings: Settings, pipeline: str) -> dict[str, Counts]:
    """Every stage's totals: the latest figures of each of its workers, summed."""
    consumer = clients.consumer(STATS_TOPIC, settings=settings, group_id=None)
    await consumer.start()
    latest: dict[bytes, dict[str, object]] = {}
    try:
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
    totals: dict[str, Counts] = defaultdict(Counts)
    for value in latest.values():
        if value.get("pipeline") == pipeline:
            figures = value["counts"]
            assert isinstance(figures, dict)  # noqa: S101 - our own JSON
            totals[str(value["stage"])].add(Counts(**figures))
    return dict(totals)
