"""The registry as a Confluent user drives it: confluent-kafka's ``SchemaRegistryClient``.

Every assertion is what Confluent's Schema Registry answers the same calls (checked against
its source); where ``streamworks registry`` answers otherwise the test is a strict xfail
naming the difference, so fixing it turns the test green.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamworks.testing import unique_name

ADDRESS: dict[str, Any] = {
    "type": "record",
    "name": "Address",
    "namespace": "com.acme",
    "fields": [
        {"name": "street", "type": {"type": "string"}},
        {"name": "city", "type": "string"},
    ],
}
# Avro Java's Schema.toString(), which Confluent serves for the text above
ADDRESS_SERVED = (
    '{"type":"record","name":"Address","namespace":"com.acme","fields":'
    '[{"name":"street","type":"string"},{"name":"city","type":"string"}]}'
)
ZIP_WITHOUT_DEFAULT = {"name": "zip", "type": "string"}
ZIP_WITH_DEFAULT = {"name": "zip", "type": "string", "default": ""}


def avro(schema: dict[str, Any], *extra: dict[str, Any], **kwargs: Any) -> Schema:
    fields = [*schema["fields"], *extra]
    return Schema(json.dumps({**schema, "fields": fields}, indent=2), "AVRO", **kwargs)


def customer(address_subject: str) -> Schema:
    text = {
        "type": "record",
        "name": "Customer",
        "namespace": "com.shop",
        "fields": [{"name": "id", "type": "long"}, {"name": "home", "type": "com.acme.Address"}],
    }
    reference = SchemaReference("com.acme.Address", address_subject, 1)
    return Schema(json.dumps(text), "AVRO", [reference])


def http(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """A raw call, for what the client has no method for (or sends under other names)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http only
    request.add_header("Content-Type", "application/vnd.schemaregistry.v1+json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def fails(call: Any, *args: Any, **kwargs: Any) -> tuple[int, int, str]:
    with pytest.raises(SchemaRegistryError) as raised:
        call(*args, **kwargs)
    return raised.value.http_status_code, raised.value.error_code, raised.value.error_message


def delete_version(client: SchemaRegistryClient, subject: str, version: int, **kw: Any) -> int:
    # confluent-kafka 2.12's cache raises KeyError in delete_version for a version it holds
    # (remove_by_subject_version indexes rs_schema_index by id): empty it first
    client.clear_caches()
    return int(client.delete_version(subject, version, **kw))


@pytest.fixture
def client(registry_url: str) -> Iterator[SchemaRegistryClient]:
    # a fresh client per test: its caches would answer some calls without a request
    with SchemaRegistryClient({"url": registry_url}) as opened:
        yield opened


@pytest.fixture
def subject() -> str:
    return unique_name("addresses") + "-value"


def test_register_read_back_and_look_up(client: SchemaRegistryClient, subject: str) -> None:
    schema_id = client.register_schema(subject, avro(ADDRESS))
    assert client.register_schema(subject, avro(ADDRESS)) == schema_id  # same schema, same id
    other = unique_name("copy") + "-value"
    assert client.register_schema(other, avro(ADDRESS)) == schema_id  # ids are global

    assert client.get_schema(schema_id).schema_str == ADDRESS_SERVED
    latest = client.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 1, schema_id)
    assert latest.schema.schema_str == ADDRESS_SERVED
    assert client.get_version(subject, 1).schema_id == schema_id
    assert client.get_version(subject, -1).version == 1
    assert client.get_versions(subject) == [1]
    found = client.lookup_schema(subject, avro(ADDRESS))
    assert (found.subject, found.version, found.schema_id) == (subject, 1, schema_id)
    assert {subject, other} <= set(client.get_subjects())

    assert fails(client.get_version, subject, 2) == (404, 40402, "Version 2 not found.")
    missing = unique_name("missing")
    assert fails(client.get_versions, missing) == (404, 40401, f"Subject '{missing}' not found.")
    assert fails(client.get_schema, 2**30) == (404, 40403, f"Schema {2**30} not found")
    unknown = avro(ADDRESS, ZIP_WITH_DEFAULT)
    assert fails(client.lookup_schema, subject, unknown) == (404, 40403, "Schema not found")


def test_references_resolve_and_hold_the_referenced_version(
    client: SchemaRegistryClient, subject: str
) -> None:
    address_id = client.register_schema(subject, avro(ADDRESS))
    customers = unique_name("customers") + "-value"
    customer_id = client.register_schema(customers, customer(subject))
    assert customer_id != address_id

    served = client.get_schema(customer_id)
    assert [r.to_dict() for r in served.references] == [
        {"name": "com.acme.Address", "subject": subject, "version": 1}
    ]
    version = client.get_version(customers, 1)
    assert [r.to_dict() for r in version.schema.references] == [
        r.to_dict() for r in served.references
    ]
    assert client.lookup_schema(customers, customer(subject)).schema_id == customer_id
    assert client.get_referenced_by(subject, 1) == [customer_id]

    key = f"{{magic=1,keytype=SCHEMA,subject={subject},version=1}}"
    refused = f"One or more references exist to the schema {key}"
    assert fails(delete_version, client, subject, 1) == (422, 42206, refused)
    assert fails(client.delete_subject, subject) == (422, 42206, refused)
    assert client.delete_subject(customers) == [1]  # the referrer soft-deleted frees it
    assert client.get_referenced_by(subject, 1) == []
    assert delete_version(client, subject, 1) == 1


def test_compatibility_levels_and_checks(client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, avro(ADDRESS))
    assert client.get_compatibility() == "BACKWARD"
    assert fails(client.get_compatibility, subject) == (
        404,
        40408,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )
    assert client.set_compatibility(subject, "FULL") == {"compatibility": "FULL"}
    assert client.get_compatibility(subject) == "FULL"

    assert client.test_compatibility(subject, avro(ADDRESS, ZIP_WITH_DEFAULT)) is True
    assert client.test_compatibility(subject, avro(ADDRESS, ZIP_WITHOUT_DEFAULT)) is False
    assert client.test_compatibility(subject, avro(ADDRESS, ZIP_WITH_DEFAULT), version=1) is True
    assert fails(client.test_compatibility, subject, avro(ADDRESS), version=7) == (
        404,
        40402,
        "Version 7 not found.",
    )
    status, code, _ = fails(client.register_schema, subject, avro(ADDRESS, ZIP_WITHOUT_DEFAULT))
    assert (status, code) == (409, 409)
    assert client.register_schema(subject, avro(ADDRESS, ZIP_WITH_DEFAULT)) > 0
    assert client.get_versions(subject) == [1, 2]

    client.delete_config(subject)
    assert client.get_compatibility() == "BACKWARD"
    assert fails(client.get_compatibility, subject)[1] == 40408


def test_incompatibility_is_explained_in_confluents_words(
    client: SchemaRegistryClient, subject: str, registry_url: str
) -> None:
    client.register_schema(subject, avro(ADDRESS))
    status, code, message = fails(
        client.register_schema, subject, avro(ADDRESS, ZIP_WITHOUT_DEFAULT)
    )
    assert (status, code) == (409, 409)
    assert message.startswith(
        "Schema being registered is incompatible with an earlier schema for subject "
        f"\"{subject}\", details: [{{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', "
        "description:'The field 'zip' at path '/fields/2' in the new schema has no default "
        "value and is missing in the old schema', additionalInfo:'zip'}, {oldSchemaVersion: 1}, "
        f"{{oldSchema: '{ADDRESS_SERVED}'}}"
    )
    path = f"/compatibility/subjects/{urllib.parse.quote(subject, safe='')}/versions/latest"
    candidate = {"schema": avro(ADDRESS, ZIP_WITHOUT_DEFAULT).schema_str}
    answer = http(f"{registry_url}{path}?verbose=true", "POST", candidate)
    assert answer[1]["messages"][1:] == [
        "{oldSchemaVersion: 1}",
        f"{{oldSchema: '{ADDRESS_SERVED}'}}",
        "{validateFields: 'false', compatibility: 'BACKWARD'}",
    ]


def test_soft_and_permanent_deletes(client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, avro(ADDRESS))
    second = client.register_schema(subject, avro(ADDRESS, ZIP_WITH_DEFAULT))
    assert delete_version(client, subject, 2) == 2
    assert client.get_versions(subject) == [1]
    assert client.get_versions(subject, deleted=True) == [1, 2]
    assert client.get_version(subject, 2, deleted=True).schema_id == second
    assert client.get_schema(second).schema_str  # a soft-deleted version's id still decodes
    assert fails(delete_version, client, subject, 2)[:2] == (404, 40406)
    assert fails(delete_version, client, subject, 1, permanent=True)[:2] == (404, 40407)
    assert delete_version(client, subject, 2, permanent=True) == 2
    assert client.get_versions(subject, deleted=True) == [1]

    assert fails(client.delete_subject, subject, permanent=True)[:2] == (404, 40405)
    assert client.delete_subject(subject) == [1]
    assert subject not in client.get_subjects()
    assert subject in client.get_subjects(deleted=True)
    assert fails(client.delete_subject, subject)[:2] == (404, 40404)
    assert client.delete_subject(subject, permanent=True) == [1]
    assert subject not in client.get_subjects(deleted=True)
    assert fails(client.get_versions, subject, deleted=True)[:2] == (404, 40401)


def test_modes(client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, avro(ADDRESS))
    assert client.get_global_mode() == "READWRITE"
    assert fails(client.get_mode, subject) == (
        404,
        40409,
        f"Subject '{subject}' does not have subject-level mode configured",
    )
    assert client.update_mode(subject, "READONLY") == "READONLY"
    assert client.get_mode(subject) == "READONLY"
    refused = (422, 42205, f"Subject {subject} is in read-only mode")
    assert fails(client.register_schema, subject, avro(ADDRESS, ZIP_WITH_DEFAULT)) == refused
    assert fails(delete_version, client, subject, 1) == refused
    assert client.get_latest_version(subject).version == 1  # reads go on
    assert client.delete_mode(subject) == "READONLY"
    assert fails(client.delete_mode, subject)[:2] == (404, 40401)

    assert fails(client.update_mode, subject, "IMPORT")[:2] == (422, 42205)  # has versions
    assert client.update_mode(subject, "IMPORT", force=True) == "IMPORT"
    assert fails(client.register_schema, subject, avro(ADDRESS, ZIP_WITH_DEFAULT))[:2] == (
        422,
        42205,
    )
    assert client.delete_mode(subject) == "IMPORT"
    assert fails(client.update_mode, subject, "SOMETIMES") == (
        422,
        42204,
        "Invalid mode. Valid values are READWRITE, READONLY, and IMPORT.",
    )


def test_mode_update_echoes_the_request(client: SchemaRegistryClient, subject: str) -> None:
    try:
        assert client.update_mode(subject, "readonly") == "readonly"
    finally:
        client.delete_mode(subject)


def test_import_mode_registers_with_the_given_id(
    client: SchemaRegistryClient, registry_url: str
) -> None:
    imported = unique_name("imported") + "-value"
    assert client.update_mode(imported, "IMPORT") == "IMPORT"
    schema_id = 2**20 + len(imported)
    path = f"{registry_url}/subjects/{urllib.parse.quote(imported, safe='')}/versions"
    body = {"schema": avro(ADDRESS).schema_str, "id": schema_id, "version": 3}
    assert http(path, "POST", body) == (200, {"id": schema_id})
    assert client.delete_mode(imported) == "IMPORT"
    assert client.get_versions(imported) == [3]
    assert client.get_schema(schema_id).schema_str == ADDRESS_SERVED


def test_listing_filters_by_confluents_parameter_names(
    client: SchemaRegistryClient, subject: str, registry_url: str
) -> None:
    client.register_schema(subject, avro(ADDRESS))
    client.register_schema(subject, avro(ADDRESS, ZIP_WITH_DEFAULT))
    delete_version(client, subject, 2)
    other = unique_name("zzz") + "-value"
    client.register_schema(other, avro(ADDRESS))
    client.delete_subject(other)
    quoted = urllib.parse.quote(subject, safe="")
    assert http(f"{registry_url}/subjects/{quoted}/versions?deletedOnly=true") == (200, [2])
    prefix = urllib.parse.quote(subject[:-3])
    assert http(f"{registry_url}/subjects?subjectPrefix={prefix}") == (200, [subject])
    assert http(f"{registry_url}/subjects?deletedOnly=true&subjectPrefix=zzz") == (200, [other])


def test_referenced_by_a_soft_deleted_version(client: SchemaRegistryClient, subject: str) -> None:
    client.register_schema(subject, avro(ADDRESS))
    delete_version(client, subject, 1)
    assert client.get_referenced_by(subject, 1) == []
