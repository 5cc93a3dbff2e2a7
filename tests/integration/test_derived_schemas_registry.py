"""Schemas derived from random record classes are accepted by our registry, and our codec and
Confluent's serializers, registering them there, write each other's values byte for byte."""

from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, Phase, given, note, settings

from streamworks import AvroRecord
from streamworks.schemas.catalog import contract_of
from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.registry_client import RegistryClient
from streamworks.schemas.typed import RecordCodec
from streamworks.testing.helpers import unique_name
from tests.unit.schemas.record_strategies import classes_and_instances

_HEADER = 5  # the Confluent frame: magic byte and 4-byte schema id


def test_confluent_and_our_codec_exchange_values_of_random_record_classes(
    registry_url: str,
) -> None:
    ours = AvroCodec(RegistryClient(registry_url))
    with SchemaRegistryClient({"url": registry_url}) as confluent:
        deserializer = AvroDeserializer(confluent)

        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # no explain phase: on random classes it varies parts of a failing one for minutes
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        )
        @given(classes_and_instances())
        def exchange(pair: tuple[type[AvroRecord], Any]) -> None:
            record_type, value = pair
            schema = contract_of(record_type).schema_str
            note(schema)
            topic = unique_name("derived")
            context = SerializationContext(topic, MessageField.VALUE)

            theirs = AvroSerializer(confluent, schema)(value.to_avro(), context)
            codec = RecordCodec(record_type, ours, subject=f"{topic}-value")
            assert theirs is not None
            assert theirs[1:5] == codec.schema_id.to_bytes(4, "big"), "one schema, one id"
            assert codec.decode(theirs, topic=topic) == value

            mine = codec.encode(value)
            assert mine == theirs
            if len(mine) > _HEADER:  # Confluent's deserializer refuses an empty body, which
                # is what a record of no fields (or only of empty records) rightly encodes to
                assert record_type.from_avro(deserializer(mine, context)) == value

        exchange()
