"""The worker's timestamp-aligned batches: partitions in step, and always progress."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from streams.orders import orders_pipeline
from streamworks.core.settings import Settings
from streamworks.runtime.worker import StageWorker
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.memory_registry import InMemoryRegistry

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class _Consumer:
    """Just enough of AIOKafkaConsumer for ``_fetch``: nothing more to fetch."""

    def assignment(self) -> set[TopicPartition]:
        return {P0, P1}

    async def getmany(self, *partitions: Any, **_: Any) -> dict[TopicPartition, list[Any]]:
        return {}


def _records(tp: TopicPartition, *timestamps: int) -> deque[Any]:
    return deque(
        SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=n, timestamp=ts)
        for n, ts in enumerate(timestamps)
    )


def _worker() -> StageWorker:
    worker = StageWorker(orders_pipeline(), "clean", Settings(), AvroCodec(InMemoryRegistry()))
    worker._consumer._closed = True  # never started: nothing to close
    worker._consumer = _Consumer()
    return worker


async def test_a_partition_running_ahead_waits_for_the_slower_one() -> None:
    worker = _worker()
    worker._waiting = {P0: _records(P0, 10, 20, 30, 40), P1: _records(P1, 5, 15)}
    batch = await worker._fetch()
    assert [r.timestamp for r in batch[P0]] == [10]
    assert [r.timestamp for r in batch[P1]] == [5, 15]


async def test_timestamps_that_do_not_rise_still_make_progress() -> None:
    worker = _worker()
    # several producers write a partition: its last record is not its newest
    worker._waiting = {P0: _records(P0, 100, 90), P1: _records(P1, 95, 200, 80)}
    batch = await worker._fetch()
    assert [r.timestamp for r in batch[P0]] == [100, 90]
    assert [r.timestamp for r in batch[P1]] == [95]
