"""Clients nobody here wrote against our registry: confluent-kafka and schema_registry."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext
from schema_registry.client import AsyncSchemaRegistryClient
from schema_registry.client import SchemaRegistryClient as PySchemaRegistryClient

from streamworks.testing.registry import RegistryThread

ORDER_V1: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "streamworks.test",
    "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"}],
}
ORDER_V2: dict[str, Any] = {
    **ORDER_V1,
    "fields": [*ORDER_V1["fields"], {"name": "note", "type": ["null", "string"], "default": None}],
}
ORDER_V3_BREAKING: dict[str, Any] = {
    **ORDER_V1,
    "fields": [*ORDER_V1["fields"], {"name": "region", "type": "string"}],
}


def avro(schema: dict[str, Any]) -> Schema:
    return Schema(json.dumps(schema), "AVRO")


@pytest.fixture
def client(registry: RegistryThread) -> Iterator[SchemaRegistryClient]:
    """confluent-kafka's client; closing it closes its HTTP connections."""
    with SchemaRegistryClient({"url": registry.url}) as opened:
        yield opened


def test_confluent_client_round_trip(client: SchemaRegistryClient) -> None:
    first = client.register_schema("orders-value", avro(ORDER_V1))
    assert client.register_schema("orders-value", avro(ORDER_V1)) == first
    second = client.register_schema("orders-value", avro(ORDER_V2))
    assert second > first
    # the same schema under another subject keeps its global id
    assert client.register_schema("payments-value", avro(ORDER_V1)) == first

    assert json.loads(client.get_schema(first).schema_str) == ORDER_V1
    latest = client.get_latest_version("orders-value")
    assert (latest.version, latest.schema_id) == (2, second)
    assert client.get_version("orders-value", 1).schema_id == first
    found = client.lookup_schema("orders-value", avro(ORDER_V2))
    assert (found.schema_id, found.version) == (second, 2)
    assert sorted(client.get_subjects()) == ["orders-value", "payments-value"]
    assert client.get_versions("orders-value") == [1, 2]
    assert client.get_schema_types() == ["AVRO"]
    assert sorted(client.get_subjects_by_schema_id(first)) == ["orders-value", "payments-value"]

    assert client.test_compatibility("orders-value", avro(ORDER_V2)) is True
    assert client.test_compatibility("orders-value", avro(ORDER_V3_BREAKING)) is False
    with pytest.raises(SchemaRegistryError) as incompatible:
        client.register_schema("orders-value", avro(ORDER_V3_BREAKING))
    assert incompatible.value.http_status_code == 409
    assert "region" in incompatible.value.error_message

    assert client.set_compatibility("orders-value", "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility("orders-value") == "FULL"
    assert client.get_compatibility() == "BACKWARD"

    assert client.delete_subject("payments-value") == [1]
    assert client.get_subjects() == ["orders-value"]
    assert client.delete_subject("payments-value", permanent=True) == [1]
    with pytest.raises(SchemaRegistryError) as gone:
        client.get_latest_version("payments-value")
    assert gone.value.error_code == 40401


def test_confluent_serializer_frames_with_the_registered_id(
    registry: RegistryThread, client: SchemaRegistryClient
) -> None:
    serializer = AvroSerializer(client, json.dumps(ORDER_V1))
    deserializer = AvroDeserializer(client)
    context = SerializationContext("orders", MessageField.VALUE)
    order = {"id": 42, "amount": 9.5}

    framed = serializer(order, context)

    assert framed is not None
    registered = client.get_latest_version("orders-value")
    assert framed[0] == 0
    assert struct.unpack(">I", framed[1:5])[0] == registered.schema_id
    assert deserializer(framed, context) == order
    # a fresh client (no cache) resolves the id through the registry
    with SchemaRegistryClient({"url": registry.url}) as other:
        assert AvroDeserializer(other)(framed, context) == order


def test_python_schema_registry_client(registry: RegistryThread) -> None:
    client = PySchemaRegistryClient(url=registry.url)
    schema_id = client.register("users-value", ORDER_V1)
    assert client.register("users-value", ORDER_V1) == schema_id
    fetched = client.get_by_id(schema_id)
    assert fetched is not None and fetched.raw_schema == ORDER_V1
    version = client.get_schema("users-value")
    assert version is not None and (version.schema_id, version.version) == (schema_id, 1)
    checked = client.check_version("users-value", ORDER_V1)
    assert checked is not None and checked.schema_id == schema_id
    assert client.check_version("users-value", ORDER_V2) is None
    assert client.test_compatibility("users-value", ORDER_V2) is True
    assert client.test_compatibility("users-value", ORDER_V3_BREAKING) is False
    verbose = client.test_compatibility("users-value", ORDER_V3_BREAKING, verbose=True)
    assert isinstance(verbose, dict) and any("region" in m for m in verbose["messages"])
    assert client.update_compatibility("FORWARD", "users-value") is True
    assert client.get_compatibility("users-value") == "FORWARD"
    assert client.get_versions("users-value") == [1]


async def test_async_python_schema_registry_client(registry: RegistryThread) -> None:
    client = AsyncSchemaRegistryClient(url=registry.url)
    schema_id = await client.register("async-value", ORDER_V1)
    second = await client.register("async-value", ORDER_V2)
    assert second > schema_id
    fetched = await client.get_by_id(second)
    assert fetched is not None and fetched.raw_schema == ORDER_V2
    latest = await client.get_schema("async-value")
    assert latest is not None and latest.version == 2
    assert await client.get_subjects() == ["async-value"]
