"""A group member's batches: partitions in step by timestamp, always progress, and only
the records of partitions the worker has set up, from their committed offsets."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from streamworks.kafka.errors import StableOffsetsUnsupportedError
from streamworks.runtime.membership import Batches, GroupMember, Owner
from streamworks.runtime.metrics import StageMetrics

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class _Consumer:
    """Just enough of AIOKafkaConsumer: each partition's log, read from a position."""

    def __init__(self, logs: dict[TopicPartition, list[int]], committed: dict[TopicPartition, int]):
        self.logs = {
            tp: [
                SimpleNamespace(
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=n,
                    timestamp=ts,
                    key=None,
                    value=b"",
                    headers=(),
                )
                for n, ts in enumerate(timestamps)
            ]
            for tp, timestamps in logs.items()
        }
        self.at = dict.fromkeys(logs, 0)
        self.offsets = committed
        self.listener: Any = None

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def start(self) -> None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return set(self.logs)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int = 500
    ) -> dict[TopicPartition, list[Any]]:
        fetched = {}
        for tp in partitions or tuple(self.logs):
            records = self.logs[tp][self.at[tp] : self.at[tp] + max_records]
            if records:
                self.at[tp] += len(records)
                fetched[tp] = records
        return fetched

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.at[tp] = offset

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.offsets.get(tp)

    async def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(tps, 0)

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.logs[tp])

    async def position(self, tp: TopicPartition) -> int:
        return self.at[tp]


def _member(consumer: _Consumer, max_batch: int = 500) -> GroupMember:
    return GroupMember(
        consumer,
        "g",
        StageMetrics("p", "s", "test-worker"),
        max_batch=max_batch,
    )


def _timestamps(batch: Batches, tp: TopicPartition) -> list[int]:
    return [r.timestamp_ms for r in batch.get(tp, [])]


async def test_a_partition_running_ahead_waits_for_the_slower_one() -> None:
    member = _member(_Consumer({P0: [10, 20, 30, 40], P1: [5, 15]}, {}))
    batch = await member.fetch()
    assert _timestamps(batch, P0) == [10]
    assert _timestamps(batch, P1) == [5, 15]


async def test_timestamps_that_do_not_rise_still_make_progress() -> None:
    # several producers write a partition: its last record is not its newest
    member = _member(_Consumer({P0: [100, 90], P1: [95, 200, 80]}, {}))
    batch = await member.fetch()
    assert _timestamps(batch, P0) == [100, 90]
    assert _timestamps(batch, P1) == [95]


async def test_every_record_comes_once_and_in_partition_order() -> None:
    logs = {P0: [5 * n for n in range(40)], P1: [3 * n for n in range(25)]}
    member = _member(_Consumer(logs, {}), max_batch=8)
    seen: dict[TopicPartition, list[int]] = {P0: [], P1: []}
    for _ in range(100):
        batch = await member.fetch()
        if not batch:
            break
        for tp, records in batch.items():
            seen[tp].extend(r.offset for r in records)
    assert seen == {P0: list(range(40)), P1: list(range(25))}


async def test_only_set_up_partitions_are_handled_and_from_their_committed_offset() -> None:
    consumer = _Consumer({P0: [1, 2, 3, 4], P1: [1, 5, 9]}, committed={P0: 2})

    class Owner:
        async def take(self, assigned: set[TopicPartition]) -> None:
            return None

        async def release(self, revoked: set[TopicPartition]) -> None:
            return None

        def ready(self, tp: TopicPartition) -> bool:
            return bool(tp == P0)  # P1's set-up is not finished

    batch = await _first_batch(_member(consumer), consumer, Owner())
    assert list(batch) == [P0]
    assert [r.offset for r in batch[P0]] == [2, 3]
    assert consumer.at[P1] == 0  # sought back: read again once it is set up


class _ReadyOwner:
    async def take(self, assigned: set[TopicPartition]) -> None:
        return None

    async def release(self, revoked: set[TopicPartition]) -> None:
        return None

    def ready(self, tp: TopicPartition) -> bool:
        return True


async def _first_offsets(member: GroupMember, consumer: _Consumer) -> dict[TopicPartition, int]:
    batch = await _first_batch(member, consumer, _ReadyOwner())
    return {tp: records[0].offset for tp, records in batch.items()}


async def _first_batch(member: GroupMember, consumer: _Consumer, owner: Owner) -> Batches:
    """The first batch ``member`` hands out once assigned both partitions."""
    await member.start(["t"], owner)
    await consumer.listener.on_partitions_assigned({P0, P1})
    handled: list[Batches] = []
    stopping = asyncio.Event()

    async def handle(batch: Batches) -> None:
        handled.append(batch)
        stopping.set()

    async def idle() -> None:
        stopping.set()

    await member.run(handle, idle, stopping)
    [batch] = handled
    return batch


async def test_under_exactly_once_a_partition_starts_at_its_stable_offset() -> None:
    # the plain read has not seen the previous owner's last transaction yet
    consumer = _Consumer({P0: [1, 2, 3, 4], P1: [1, 2, 3, 9]}, committed={})
    asked: list[set[TopicPartition]] = []

    async def stable(partitions: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        asked.append(partitions)
        return {P0: 3, P1: None}

    member = GroupMember(consumer, "g", StageMetrics("p", "s", "w"), stable_committed=stable)
    assert await _first_offsets(member, consumer) == {P0: 3, P1: 0}
    assert asked == [{P0, P1}]


async def test_a_broker_without_stable_reads_falls_back_to_the_plain_read() -> None:
    consumer = _Consumer({P0: [1, 2, 3, 4], P1: [1, 2, 3, 9]}, committed={P0: 1, P1: 2})

    async def stable(partitions: set[TopicPartition]) -> dict[TopicPartition, int | None]:
        raise StableOffsetsUnsupportedError("127.0.0.1:9092")

    member = GroupMember(consumer, "g", StageMetrics("p", "s", "w"), stable_committed=stable)
    assert await _first_offsets(member, consumer) == {P0: 1, P1: 2}
