"""Schema references, as confluent-kafka's client and serializers use them, against our registry."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from streamworks.schemas.codec import AvroCodec
from streamworks.schemas.references import SchemaReference as OurReference
from streamworks.schemas.registry_client import RegistryClient
from streamworks.testing.registry import RegistryThread

ADDRESS: dict[str, Any] = {
    "type": "record",
    "name": "Address",
    "namespace": "com.acme",
    "fields": [{"name": "street", "type": "string"}, {"name": "city", "type": "string"}],
}
CUSTOMER: dict[str, Any] = {
    "type": "record",
    "name": "Customer",
    "namespace": "com.shop",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "home", "type": "com.acme.Address"},
        {"name": "work", "type": ["null", "com.acme.Address"], "default": None},
    ],
}
ADDRESS_REF = SchemaReference("com.acme.Address", "address-value", 1)
CUSTOMER_RECORD = {
    "id": 7,
    "home": {"street": "1 Rue Haute", "city": "Lyon"},
    "work": {"street": "2 Quai Bas", "city": "Paris"},
}


def customer_schema(*extra: dict[str, Any], refs: list[SchemaReference] | None = None) -> Schema:
    schema = {**CUSTOMER, "fields": [*CUSTOMER["fields"], *extra]}
    return Schema(json.dumps(schema), "AVRO", [ADDRESS_REF] if refs is None else refs)


@pytest.fixture
def client(registry: RegistryThread) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": registry.url}) as opened:
        yield opened


def test_confluent_serializers_round_trip_a_record_using_another_subjects_type(
    client: SchemaRegistryClient, registry: RegistryThread
) -> None:
    address_id = client.register_schema("address-value", Schema(json.dumps(ADDRESS), "AVRO"))
    context = SerializationContext("customers", MessageField.VALUE)
    serializer = AvroSerializer(client, customer_schema(), conf={"auto.register.schemas": True})
    framed = serializer(CUSTOMER_RECORD, context)
    assert framed is not None

    # a fresh client, so the deserializer fetches the writer schema and its references
    with SchemaRegistryClient({"url": registry.url}) as reader:
        assert AvroDeserializer(reader)(framed, context) == CUSTOMER_RECORD
        schema_id = int.from_bytes(framed[1:5], "big")
        assert schema_id != address_id
        served = reader.get_schema(schema_id)
        assert [r.to_dict() for r in served.references] == [ADDRESS_REF.to_dict()]
        version = reader.get_version("customers-value", 1)
        assert version.schema_id == schema_id
        assert [r.to_dict() for r in version.schema.references] == [ADDRESS_REF.to_dict()]
        assert reader.get_referenced_by("address-value", 1) == [schema_id]
        assert reader.get_referenced_by("customers-value", 1) == []

    # our own codec reads it too, with the referenced type fetched and inlined
    ours = RegistryClient(registry.url)
    decoded = AvroCodec(ours).decoder().decode(framed, topic="customers")
    assert decoded == CUSTOMER_RECORD
    assert ours.version("customers-value", 1).references == (
        OurReference("com.acme.Address", "address-value", 1),
    )


def get(registry: RegistryThread, path: str) -> Any:
    """The JSON body the registry answers, as it is on the wire."""
    with urllib.request.urlopen(registry.url + path, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


def test_references_are_part_of_the_schema_identity_and_its_lookup(
    client: SchemaRegistryClient, registry: RegistryThread
) -> None:
    address = Schema(json.dumps(ADDRESS), "AVRO")
    client.register_schema("address-value", address)
    client.register_schema("address2-value", address)
    first = client.register_schema("customers-value", customer_schema())
    assert client.register_schema("customers-value", customer_schema()) == first
    # latest (-1) is stored as the version it meant
    other = customer_schema(refs=[SchemaReference("com.acme.Address", "address2-value", -1)])
    client.set_compatibility("customers-value", "NONE")
    second = client.register_schema("customers-value", other)
    assert second != first
    stored = client.get_version("customers-value", 2)
    assert [r.to_dict() for r in stored.schema.references] == [
        {"name": "com.acme.Address", "subject": "address2-value", "version": 1}
    ]
    found = client.lookup_schema("customers-value", customer_schema())
    assert (found.schema_id, found.version) == (first, 1)
    # on the wire: references only where there are some, as Confluent answers
    assert get(registry, "/subjects/customers-value/versions/1")["references"] == [
        ADDRESS_REF.to_dict()
    ]
    assert get(registry, f"/schemas/ids/{first}")["references"] == [ADDRESS_REF.to_dict()]
    assert "references" not in get(registry, "/subjects/address-value/versions/1")
    assert "references" not in get(registry, "/schemas/ids/1")


def test_a_missing_reference_is_refused_as_an_invalid_schema(
    client: SchemaRegistryClient,
) -> None:
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema("customers-value", customer_schema())
    assert (caught.value.http_status_code, caught.value.error_code) == (422, 42201)
    assert 'No schema reference found for subject "address-value" and version 1' in (
        caught.value.error_message
    )


def test_compatibility_checks_resolve_references(client: SchemaRegistryClient) -> None:
    client.register_schema("address-value", Schema(json.dumps(ADDRESS), "AVRO"))
    client.register_schema("customers-value", customer_schema())
    fits = customer_schema({"name": "vip", "type": "boolean", "default": False})
    breaks = customer_schema({"name": "vip", "type": "boolean"})
    assert client.test_compatibility("customers-value", fits) is True
    assert client.test_compatibility("customers-value", breaks) is False
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema("customers-value", breaks)
    assert caught.value.http_status_code == 409
    assert "vip" in caught.value.error_message


def test_a_referenced_version_is_not_deleted_until_its_referrers_are(
    client: SchemaRegistryClient,
) -> None:
    client.register_schema("address-value", Schema(json.dumps(ADDRESS), "AVRO"))
    client.register_schema("customers-value", customer_schema())
    expected = (
        "One or more references exist to the schema "
        "{magic=1,keytype=SCHEMA,subject=address-value,version=1}"
    )
    with pytest.raises(SchemaRegistryError) as version:
        client.delete_version("address-value", 1)
    with pytest.raises(SchemaRegistryError) as subject:
        client.delete_subject("address-value")
    for caught in (version, subject):
        assert (caught.value.http_status_code, caught.value.error_code) == (422, 42206)
        assert caught.value.error_message == expected
    assert client.get_versions("address-value") == [1]

    assert client.delete_subject("customers-value") == [1]
    assert client.get_referenced_by("address-value", 1) == []
    assert client.delete_subject("address-value") == [1]
    assert client.delete_subject("address-value", permanent=True) == [1]
