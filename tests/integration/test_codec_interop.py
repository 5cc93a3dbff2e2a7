"""Our codec and Confluent's serializers read each other's records through our registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from streamworks.schemas.catalog import contract_of
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import (
    KafkaEndpoint,
    TopicFactory,
    consume_until,
    produce,
)
from tests.kit.records import Alarm, Level, Reading

NOW = datetime(2026, 11, 26, 9, 15, 0, 250000, tzinfo=UTC)


def _alarm(n: int) -> Alarm:
    """A nested record, an enum, an array, a double and a time to the millisecond."""
    return Alarm(
        reading=Reading(sensor=f"s-{n}", value=100.5 + n / 4, at=NOW + timedelta(seconds=n)),
        level=(Level.WARN, Level.ALARM)[n % 2],
        reasons=tuple(f"limit {k}" for k in range(n % 3)),
    )


async def test_records_confluent_serializes_are_decoded_by_our_codec(
    kafka: KafkaEndpoint, schema_registry: Any, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("interop-in")
    context = SerializationContext(topic, MessageField.VALUE)
    alarms = [_alarm(n) for n in range(20)]
    with SchemaRegistryClient({"url": schema_registry.url}) as confluent:
        serializer = AvroSerializer(confluent, contract_of(Alarm).schema_str)
        framed = [serializer(a.to_avro(), context) for a in alarms]
    await produce(kafka.bootstrap_servers, topic, [(None, b) for b in framed])

    ours = RecordCodec(Alarm, AvroCodec(RegistryClient(schema_registry.url)))
    received = await consume_until(kafka.bootstrap_servers, topic, count=20)
    decoded = [
        ours.decode(r.value, topic=r.topic, partition=r.partition, offset=r.offset)
        for r in sorted(received, key=lambda r: r.offset)
    ]
    assert decoded == alarms
    assert {r.value[1:5] for r in received} == {ours.schema_id.to_bytes(4, "big")}


async def test_records_we_encode_are_deserialized_by_confluent(
    kafka: KafkaEndpoint, schema_registry: Any, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("interop-out")
    ours = RecordCodec(
        Alarm, AvroCodec(RegistryClient(schema_registry.url)), subject=f"{topic}-value"
    )
    alarms = [_alarm(n) for n in range(20)]
    await produce(kafka.bootstrap_servers, topic, [(None, ours.encode(a)) for a in alarms])

    received = await consume_until(kafka.bootstrap_servers, topic, count=20)
    context = SerializationContext(topic, MessageField.VALUE)
    with SchemaRegistryClient({"url": schema_registry.url}) as confluent:
        deserializer = AvroDeserializer(confluent)
        values = [deserializer(r.value, context) for r in sorted(received, key=lambda r: r.offset)]
    assert [Alarm.from_avro(v) for v in values] == alarms
