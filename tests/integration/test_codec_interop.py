"""Our codec and Confluent's serializers read each other's records through our registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from schemas.records import EnrichedOrder, Tier
from streamworks.schemas.catalog import contract
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing import (
    KafkaEndpoint,
    TopicFactory,
    consume_until,
    produce,
)

NOW = datetime(2026, 11, 26, 9, 15, 0, 250000, tzinfo=UTC)


def _order(n: int) -> EnrichedOrder:
    return EnrichedOrder(
        order_id=uuid.UUID(int=n),
        customer_id=f"c-{n}",
        sku="SKU-9",
        quantity=n % 5 + 1,
        amount_cents=1_000 + n,
        currency="EUR",
        ordered_at=NOW,
        received_at=NOW,
        enriched_at=NOW,
        customer_tier=Tier.SILVER,
        region="EU-NORTH",
    )


async def test_records_confluent_serializes_are_decoded_by_our_codec(
    kafka: KafkaEndpoint, schema_registry: Any, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("interop-in")
    context = SerializationContext(topic, MessageField.VALUE)
    orders = [_order(n) for n in range(20)]
    with SchemaRegistryClient({"url": schema_registry.url}) as confluent:
        serializer = AvroSerializer(confluent, contract("orders.enriched").schema_str)
        framed = [serializer(o.to_avro(), context) for o in orders]
    await produce(kafka.bootstrap_servers, topic, [(None, b) for b in framed])

    ours = RecordCodec(EnrichedOrder, AvroCodec(RegistryClient(schema_registry.url)))
    received = await consume_until(kafka.bootstrap_servers, topic, count=20)
    decoded = [
        ours.decode(r.value, topic=r.topic, partition=r.partition, offset=r.offset)
        for r in sorted(received, key=lambda r: r.offset)
    ]
    assert decoded == orders
    assert {r.value[1:5] for r in received} == {ours.schema_id.to_bytes(4, "big")}


async def test_records_we_encode_are_deserialized_by_confluent(
    kafka: KafkaEndpoint, schema_registry: Any, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory("interop-out")
    ours = RecordCodec(
        EnrichedOrder, AvroCodec(RegistryClient(schema_registry.url)), subject=f"{topic}-value"
    )
    orders = [_order(n) for n in range(20)]
    await produce(kafka.bootstrap_servers, topic, [(None, ours.encode(o)) for o in orders])

    received = await consume_until(kafka.bootstrap_servers, topic, count=20)
    context = SerializationContext(topic, MessageField.VALUE)
    with SchemaRegistryClient({"url": schema_registry.url}) as confluent:
        deserializer = AvroDeserializer(confluent)
        values = [deserializer(r.value, context) for r in sorted(received, key=lambda r: r.offset)]
    assert [EnrichedOrder.from_avro(v) for v in values] == orders
