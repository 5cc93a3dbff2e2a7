"""At-least-once bookkeeping: batches in flight, offsets settled in order, commits beside.

The producer and the group are stand-ins: a batch's acknowledgement is a future the test
resolves, and a commit is recorded (and can be held open, or fail) by a fake member.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from aiokafka import TopicPartition

from streamworks.core.settings import Settings
from streamworks.runtime.commits import _IN_FLIGHT, AtLeastOnce
from streamworks.runtime.membership import GroupMember
from streamworks.runtime.metrics import StageMetrics
from streamworks.runtime.processor import Counts

TP = TopicPartition("orders", 0)


class _Member:
    """Records commits; ``hold`` keeps the next one open until released."""

    group_id = "test-group"

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.hold: asyncio.Event | None = None
        self.open = 0
        self.most_open = 0
        self.fail: Exception | None = None

    async def commit(self, offsets: dict[TopicPartition, int]) -> bool:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.fail is not None:
                raise self.fail
            self.commits.append(dict(offsets))
            return True
        finally:
            self.open -= 1


class _Metrics:
    def committed(self, seconds: float) -> None:
        pass


def _writer(member: _Member, done: list[Counts], *, interval_s: float = 0.0) -> AtLeastOnce:
    return AtLeastOnce(
        Settings(),
        cast(GroupMember, member),
        cast(StageMetrics, _Metrics()),
        done.append,
        interval_s=interval_s,
    )


def _acks(count: int = 1) -> list[asyncio.Future[Any]]:
    loop = asyncio.get_running_loop()
    return [loop.create_future() for _ in range(count)]


async def _spin() -> None:
    """Let every task that can run, run."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_batches_stay_in_flight_until_too_many_then_the_oldest_is_awaited() -> None:
    member = _Member()
    writer = _writer(member, [], interval_s=3600)
    batches = [_acks() for _ in range(_IN_FLIGHT)]
    for n, futures in enumerate(batches):
        await writer.handed(futures, {TP: n + 1}, Counts(records_in=1))  # none acknowledged

    one_more = asyncio.create_task(writer.handed(_acks(), {TP: 99}, Counts(records_in=1)))
    await _spin()
    assert not one_more.done()  # one over the limit: it waits for the oldest batch
    batches[0][0].set_result(None)
    await asyncio.wait_for(one_more, 5)


async def test_only_acknowledged_batches_are_committed_and_in_order() -> None:
    member = _Member()
    done: list[Counts] = []
    writer = _writer(member, done, interval_s=3600)
    first, second = _acks(3), _acks(2)
    await writer.handed(first, {TP: 10}, Counts(records_in=10))
    await writer.handed(second, {TP: 20}, Counts(records_in=10))

    settling = asyncio.create_task(writer.settle(commit_now=True))
    for future in second:  # the later batch is acknowledged first: nothing commits yet
        future.set_result(None)
    await _spin()
    assert member.commits == []
    for future in first:
        future.set_result(None)
    await asyncio.wait_for(settling, 5)
    assert member.commits == [{TP: 20}]
    assert [c.records_in for c in done] == [20]


async def test_a_due_commit_runs_beside_the_batches_and_commits_never_overlap() -> None:
    member = _Member()
    member.hold = asyncio.Event()
    writer = _writer(member, [], interval_s=0.0)
    acked = _acks()
    acked[0].set_result(None)
    await writer.handed(acked, {TP: 5}, Counts(records_in=5))  # due: a commit starts
    await _spin()
    assert member.open == 1

    later = _acks()
    later[0].set_result(None)
    await asyncio.wait_for(writer.handed(later, {TP: 9}, Counts(records_in=4)), 5)  # no wait

    final = asyncio.create_task(writer.settle(commit_now=True))
    await _spin()
    assert not final.done()  # it waits for the commit that is open
    member.hold.set()
    await asyncio.wait_for(final, 5)
    assert member.commits == [{TP: 5}, {TP: 9}]
    assert member.most_open == 1


async def test_a_commit_that_fails_beside_the_batches_stops_the_next_one() -> None:
    member = _Member()
    member.fail = RuntimeError("coordinator gone")
    writer = _writer(member, [], interval_s=0.0)
    acked = _acks()
    acked[0].set_result(None)
    await writer.handed(acked, {TP: 5}, Counts(records_in=5))
    await _spin()
    with pytest.raises(RuntimeError, match="coordinator gone"):
        await writer.handed(_acks(), {TP: 6}, Counts(records_in=1))


async def test_a_refused_batch_fails_the_settle_and_its_offsets_stay_uncommitted() -> None:
    member = _Member()
    writer = _writer(member, [], interval_s=3600)
    refused = _acks()
    await writer.handed(refused, {TP: 7}, Counts(records_in=7))
    refused[0].set_exception(RuntimeError("record too large"))
    with pytest.raises(RuntimeError, match="record too large"):
        await writer.settle(commit_now=True)
    assert member.commits == []
