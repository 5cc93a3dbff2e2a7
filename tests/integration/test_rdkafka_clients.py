"""The librdkafka consumer and sender under at-least-once stage workers, on the real broker.

What the worker relies on: a key lands on the partition aiokafka's path would pick (so
stages on either client co-partition), every record is acknowledged or the batch fails,
records come back as ``InMessage`` with their headers, a lost commit is aiokafka's
``CommitFailedError``, and a member joining takes partitions from the other one through the
listener (revoked first, then assigned).
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import ConsumerRebalanceListener, TopicPartition

from streamworks.core.messages import InMessage, OutRecord
from streamworks.core.settings import Settings
from streamworks.kafka.clients import key_partitioner
from streamworks.kafka.errors import KafkaUnavailableError
from streamworks.kafka.rdkafka import KafkaClientError, RdConsumer, RdSender
from streamworks.kafka.sending import acknowledged
from streamworks.testing import TopicFactory, consume_until, wait_for


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, consumer: RdConsumer, events: list[tuple[str, set[TopicPartition]]]):
        self.consumer = consumer
        self.events = events

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.events.append(("revoked", revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.events.append(("assigned", assigned))
        for tp in assigned:  # as the group member does: start at the committed offset
            committed = await self.consumer.committed(tp)
            if committed is None:
                committed = (await self.consumer.beginning_offsets([tp]))[tp]
            self.consumer.seek(tp, committed)


def _consumer(settings: Settings, group: str) -> RdConsumer:
    return RdConsumer(
        settings,
        group_id=group,
        client_id=f"{group}-test",
        max_batch=100,
        fetch_wait_ms=500,
        read_committed=True,
    )


async def _read(consumer: RdConsumer, count: int) -> list[InMessage]:
    got: list[InMessage] = []
    deadline = asyncio.get_running_loop().time() + 60
    while len(got) < count and asyncio.get_running_loop().time() < deadline:
        for records in (await consumer.getmany(timeout_ms=200)).values():
            got.extend(records)
    return got


async def test_keys_land_where_kafkas_hashing_puts_them_and_every_record_is_acked(
    kafka_settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("rd-keys", partitions=5)
    records = [
        OutRecord(topic, f"customer-{i % 37}".encode(), f"{i}".encode(), (("h", b"%d" % i),))
        for i in range(400)
    ]
    sender = RdSender(kafka_settings, client_id="rd-keys")
    try:
        await acknowledged(await sender.send(records))
    finally:
        await sender.close()

    received = await consume_until(kafka_settings.bootstrap_servers, topic, count=400)
    assert sorted(int(r.value or b"") for r in received) == list(range(400))
    partitions = list(range(5))
    for r in received:
        assert r.partition == key_partitioner(r.key, partitions, partitions), r.key
        assert list(r.headers) == [("h", r.value)]


async def test_an_explicit_partition_is_kept_and_a_refused_record_fails_its_batch(
    kafka_settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("rd-refused", partitions=3)
    sender = RdSender(kafka_settings, client_id="rd-refused")
    try:
        await acknowledged(await sender.send([OutRecord(topic, b"k", b"v", partition=1)]))
        too_large = OutRecord(topic, b"k", b"x" * 2_000_000)
        with pytest.raises(KafkaClientError) as refused:
            await acknowledged(await sender.send([OutRecord(topic, b"k", b"ok"), too_large]))
        assert refused.value.refuses_record
    finally:
        await sender.close()
    # the batch failed as a whole; its record that fitted was written (at-least-once)
    received = await consume_until(kafka_settings.bootstrap_servers, topic, count=2)
    assert sorted(r.value or b"" for r in received) == [b"ok", b"v"]
    assert [r.partition for r in received if r.value == b"v"] == [1]


async def test_a_member_joining_takes_partitions_through_the_listener_and_offsets_commit(
    kafka_settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("rd-group", partitions=4)
    group = f"{topic}-group"
    sender = RdSender(kafka_settings, client_id="rd-group")
    try:
        await acknowledged(
            await sender.send([OutRecord(topic, b"%d" % i, b"%d" % i) for i in range(200)])
        )
    finally:
        await sender.close()

    first_events: list[tuple[str, set[TopicPartition]]] = []
    first = _consumer(kafka_settings, group)
    first.subscribe([topic], _Listener(first, first_events))
    await first.start()
    try:
        got = await _read(first, 200)
        assert sorted(int(m.value or b"") for m in got) == list(range(200))
        assert all(isinstance(m, InMessage) and m.timestamp_ms > 0 for m in got)
        assert first.assignment() == {TopicPartition(topic, p) for p in range(4)}
        await first.commit({TopicPartition(topic, 0): 3})
        assert await first.committed(TopicPartition(topic, 0)) == 3

        second_events: list[tuple[str, set[TopicPartition]]] = []
        second = _consumer(kafka_settings, group)
        second.subscribe([topic], _Listener(second, second_events))
        await second.start()
        try:
            # both members must fetch for the group to settle: librdkafka rebalances in them
            async def both_hold_two() -> bool:
                await asyncio.gather(first.getmany(timeout_ms=100), second.getmany(timeout_ms=100))
                return len(first.assignment()) == 2 and len(second.assignment()) == 2

            await wait_for(both_hold_two, timeout=60, what="the partitions shared")
            assert first.assignment().isdisjoint(second.assignment())
            assert ("revoked", {TopicPartition(topic, p) for p in range(4)}) in first_events
            assert second_events[-1] == ("assigned", second.assignment())
        finally:
            await second.stop()
    finally:
        await first.stop()


async def test_a_seek_while_records_stream_in_reads_again_from_there_and_skips_none(
    kafka_settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("rd-seek", partitions=1)
    tp = TopicPartition(topic, 0)
    sender = RdSender(kafka_settings, client_id="rd-seek")
    consumer = _consumer(kafka_settings, f"{topic}-group")
    consumer.subscribe([topic], _Listener(consumer, []))
    await consumer.start()
    try:
        await acknowledged(
            await sender.send([OutRecord(topic, None, b"%d" % i) for i in range(50)])
        )
        first = await _read(consumer, 50)
        assert [m.offset for m in first] == list(range(50))

        # more records arrive while the worker goes back to offset 20 (as a worker does
        # for a partition it could not take yet): every record from 20 on comes, in order
        sending = asyncio.create_task(
            sender.send([OutRecord(topic, None, b"%d" % i) for i in range(50, 300)])
        )
        consumer.seek(tp, 20)
        again = await _read(consumer, 280)
        await acknowledged(await sending)
        offsets = [m.offset for m in again]
        assert offsets[0] == 20
        assert sorted(set(offsets)) == list(range(20, 300))
        assert offsets == sorted(offsets)
    finally:
        await consumer.stop()
        await sender.close()


async def test_no_broker_is_said_with_the_address_tried() -> None:
    settings = Settings(bootstrap_servers="127.0.0.1:1")
    consumer = _consumer(settings, "rd-nobody")
    consumer.subscribe(["nothing"], _Listener(consumer, []))
    try:
        with pytest.raises(KafkaUnavailableError, match=r"127\.0\.0\.1:1"):
            await consumer.start()
    finally:
        await consumer.stop()
