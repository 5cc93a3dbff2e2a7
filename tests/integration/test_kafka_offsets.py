"""Stable reads of a group's offsets on the real broker: a transaction's offsets are seen
right after it commits, never while it is open, and an abort leaves the offsets as they were."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.kafka.offsets import stable_committed
from streamworks.testing import TopicFactory, unique_name


@pytest.fixture
async def transactional(kafka_settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = clients.producer(kafka_settings, transactional_id=unique_name("txn"))
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def test_offsets_committed_in_a_transaction_are_read_right_after_the_commit(
    kafka_settings: Settings,
    topic_factory: TopicFactory,
    unique_group: str,
    transactional: AIOKafkaProducer,
) -> None:
    topic = await topic_factory("stable", partitions=3)
    p0, p1, p2 = (TopicPartition(topic, p) for p in range(3))

    for step in range(1, 11):  # each read follows its commit at once: no settling time
        async with transactional.transaction():
            await transactional.send_offsets_to_transaction(
                {p0: 10 * step, p1: 10 * step + 1}, unique_group
            )
        read = await stable_committed(kafka_settings, unique_group, {p0, p1, p2})
        assert read == {p0: 10 * step, p1: 10 * step + 1, p2: None}


async def test_a_read_waits_for_an_open_transaction_and_sees_its_offsets(
    kafka_settings: Settings,
    topic_factory: TopicFactory,
    unique_group: str,
    transactional: AIOKafkaProducer,
) -> None:
    topic = await topic_factory("pending")
    tp = TopicPartition(topic, 0)
    await transactional.begin_transaction()
    await transactional.send_offsets_to_transaction({tp: 42}, unique_group)

    read = asyncio.create_task(stable_committed(kafka_settings, unique_group, {tp}))
    done, _ = await asyncio.wait({read}, timeout=1.0)
    assert not done, "a stable read answered while the transaction's offsets were pending"

    await transactional.commit_transaction()
    assert await asyncio.wait_for(read, timeout=10) == {tp: 42}


async def test_an_aborted_transaction_leaves_the_offsets_as_they_were(
    kafka_settings: Settings,
    topic_factory: TopicFactory,
    unique_group: str,
    transactional: AIOKafkaProducer,
) -> None:
    topic = await topic_factory("aborted")
    tp = TopicPartition(topic, 0)
    async with transactional.transaction():
        await transactional.send_offsets_to_transaction({tp: 7}, unique_group)
    await transactional.begin_transaction()
    await transactional.send_offsets_to_transaction({tp: 99}, unique_group)
    await transactional.abort_transaction()

    assert await stable_committed(kafka_settings, unique_group, {tp}) == {tp: 7}


async def test_a_group_that_never_committed_reads_none(
    kafka_settings: Settings, topic_factory: TopicFactory, unique_group: str
) -> None:
    topic = await topic_factory("fresh")
    tp = TopicPartition(topic, 0)
    assert await stable_committed(kafka_settings, unique_group, {tp}) == {tp: None}
