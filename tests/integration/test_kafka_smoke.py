"""Smoke tests on the real broker: the clients, the admin API and the safe defaults."""

from __future__ import annotations

from collections import defaultdict

from aiokafka import TopicPartition

from streamworks.core.settings import Settings
from streamworks.kafka import clients
from streamworks.testing import KafkaEndpoint, TopicFactory, consume_until, produce


async def test_round_trip_keeps_every_record_and_per_key_order(
    kafka: KafkaEndpoint, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("roundtrip", partitions=3)
    sent = [(f"k{i % 7}".encode(), f"{i}".encode()) for i in range(300)]
    assert await produce(kafka.bootstrap_servers, topic, sent) == 300

    received = await consume_until(kafka.bootstrap_servers, topic, count=300)

    assert sorted(int(r.value or b"") for r in received) == list(range(300))
    per_key: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(received, key=lambda r: (r.partition, r.offset)):
        per_key[record.key or b""].append(int(record.value or b""))
    for key, values in per_key.items():
        assert values == sorted(values), f"records of key {key!r} arrived out of order"


async def test_admin_creates_a_topic_with_several_partitions(
    kafka_settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("admin", partitions=6)
    admin = clients.admin_client(kafka_settings)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert described[0]["error_code"] == 0
    assert sorted(p["partition"] for p in described[0]["partitions"]) == list(range(6))


async def test_the_platform_producer_is_idempotent_on_the_broker(
    kafka_settings: Settings, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("idempotent")
    producer = clients.producer(kafka_settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"v")
        # The broker hands an idempotent producer a producer id; a plain producer has none.
        assert producer._txn_manager is not None
        assert producer._txn_manager.producer_id >= 0
        assert producer._sender._acks == -1  # acks=all
    finally:
        await producer.stop()


async def test_the_platform_consumer_commits_nothing_by_itself(
    kafka_settings: Settings, topic_factory: TopicFactory, unique_group: str
) -> None:
    topic = await topic_factory("nocommit")
    await produce(kafka_settings.bootstrap_servers, topic, [(b"k", b"v")])
    partition = TopicPartition(topic, 0)

    consumer = clients.consumer(topic, settings=kafka_settings, group_id=unique_group)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=15_000)
        assert sum(len(records) for records in batch.values()) == 1
    finally:
        # With auto-commit on, aiokafka would commit the consumed offset while stopping.
        await consumer.stop()

    checker = clients.consumer(settings=kafka_settings, group_id=unique_group)
    await checker.start()
    try:
        assert await checker.committed(partition) is None
    finally:
        await checker.stop()
