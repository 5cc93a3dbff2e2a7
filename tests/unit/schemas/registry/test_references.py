"""Schema references in the registry's model and commands, without a broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamworks.registry import commands
from streamworks.registry.errors import (
    IncompatibleError,
    InvalidSchemaTextError,
    ReferenceExistsError,
    VersionSoftDeletedError,
)
from streamworks.registry.records import LogRecord, SchemaRecord, decode, encode
from streamworks.registry.state import RegistryState
from streamworks.schemas.references import SchemaReference, standalone

ADDRESS = json.dumps(
    {
        "type": "record",
        "name": "Address",
        "namespace": "com.acme",
        "fields": [{"name": "street", "type": "string"}],
    }
)
COUNTRY = json.dumps({"type": "enum", "name": "Country", "namespace": "com.geo", "symbols": ["FR"]})
ADDRESS_WITH_COUNTRY = json.dumps(
    {
        "type": "record",
        "name": "Address",
        "namespace": "com.acme",
        "fields": [
            {"name": "street", "type": "string"},
            {"name": "country", "type": "com.geo.Country"},
        ],
    }
)


def customer(*extra: dict[str, Any]) -> str:
    fields = [{"name": "home", "type": "com.acme.Address"}, *extra]
    return json.dumps({"type": "record", "name": "Customer", "namespace": "shop", "fields": fields})


def ref(subject: str = "address-value", version: int = 1, name: str = "com.acme.Address") -> Any:
    return [{"name": name, "subject": subject, "version": version}]


def run(state: RegistryState, plan: commands.Plan[Any]) -> Any:
    for record in plan.records:
        decoded = decode(*encode(record))  # through the bytes on the log
        assert decoded is not None
        state.apply(decoded)
    return plan.result


def register(state: RegistryState, subject: str, text: str, references: Any = None) -> int:
    submitted = commands.validate_schema(text, "AVRO", references)
    return int(run(state, commands.register(state, subject, submitted))["id"])


def test_a_schema_using_another_subjects_type_registers_with_its_references() -> None:
    state = RegistryState()
    address = register(state, "address-value", ADDRESS)
    schema_id = register(state, "customer-value", customer(), ref())
    assert schema_id == address + 1
    stored = state.version("customer-value", 1)
    assert stored.references == (SchemaReference("com.acme.Address", "address-value", 1),)
    assert commands.version_json(stored)["references"] == ref()
    assert "references" not in commands.version_json(state.version("address-value", 1))
    assert state.references(schema_id) == stored.references
    # the same again is the same id; the same text without references does not parse
    assert register(state, "customer-value", customer(), ref()) == schema_id
    with pytest.raises(InvalidSchemaTextError, match=r"com\.acme\.Address"):
        register(state, "other-value", customer())


def test_a_missing_reference_is_an_invalid_schema_in_confluents_words() -> None:
    state = RegistryState()
    with pytest.raises(InvalidSchemaTextError) as caught:
        register(state, "customer-value", customer(), ref())
    assert caught.value.error_code == 42201
    assert 'No schema reference found for subject "address-value" and version 1' in str(
        caught.value
    )
    register(state, "address-value", ADDRESS)
    with pytest.raises(InvalidSchemaTextError, match="and version 2"):
        register(state, "customer-value", customer(), ref(version=2))


def test_latest_is_stored_as_the_version_it_meant() -> None:
    state = RegistryState()
    register(state, "address-value", ADDRESS)
    run(state, commands.set_config(state, "address-value", "NONE"))
    register(state, "address-value", ADDRESS.replace("street", "road"))
    register(state, "customer-value", customer(), ref(version=-1))
    assert state.version("customer-value", 1).references[0].version == 2


def test_same_text_with_other_references_is_another_schema() -> None:
    state = RegistryState()
    register(state, "address-value", ADDRESS)
    register(state, "address2-value", ADDRESS)
    first = register(state, "customer-value", customer(), ref())
    run(state, commands.set_config(state, "customer-value", "NONE"))
    second = register(state, "customer-value", customer(), ref("address2-value"))
    assert second != first
    assert [r.version for r in state.versions("customer-value")] == [1, 2]
    found = commands.lookup(
        state, "customer-value", commands.validate_schema(customer(), None, ref())
    )
    assert (found["id"], found["version"]) == (first, 1)


def test_a_lookup_with_the_references_inlined_finds_the_version() -> None:
    state = RegistryState()
    register(state, "address-value", ADDRESS)
    schema_id = register(state, "customer-value", customer(), ref())
    inlined = customer().replace('"com.acme.Address"', ADDRESS)
    found = commands.lookup(state, "customer-value", commands.validate_schema(inlined))
    assert (found["id"], found["version"], found["references"]) == (schema_id, 1, ref())


def test_references_resolve_recursively_in_dependency_order() -> None:
    state = RegistryState()
    register(state, "country-value", COUNTRY)
    register(
        state, "address-value", ADDRESS_WITH_COUNTRY, ref("country-value", name="com.geo.Country")
    )
    register(state, "customer-value", customer(), ref())
    references, texts = state.resolve(ref_tuple(), deleted=False)
    assert [json.loads(text) for text in texts] == [
        json.loads(COUNTRY),
        json.loads(ADDRESS_WITH_COUNTRY),
    ]
    whole = json.loads(standalone(customer(), texts))
    assert whole["fields"][0]["type"]["fields"][1]["type"]["symbols"] == ["FR"]
    assert references == ref_tuple()


def ref_tuple() -> tuple[SchemaReference, ...]:
    return (SchemaReference("com.acme.Address", "address-value", 1),)


def test_compatibility_resolves_references_on_both_sides() -> None:
    state = RegistryState()
    register(state, "address-value", ADDRESS)
    register(state, "customer-value", customer(), ref())
    breaking = customer({"name": "age", "type": "int"})
    fine = customer({"name": "age", "type": "int", "default": 0})
    against = state.versions("customer-value")
    compatible = commands.validate_schema(fine, None, ref())
    assert commands.compatibility_problems(state, "customer-value", compatible, against) == []
    incompatible = commands.validate_schema(breaking, None, ref())
    problems = commands.compatibility_problems(state, "customer-value", incompatible, against)
    assert problems
    assert "age" in problems[0]
    with pytest.raises(IncompatibleError, match="age"):
        register(state, "customer-value", breaking, ref())


def test_referenced_versions_are_not_deleted_while_a_live_schema_uses_them() -> None:
    state = RegistryState()
    register(state, "address-value", ADDRESS)
    schema_id = register(state, "customer-value", customer(), ref())
    assert state.referenced_by("address-value", 1) == [schema_id]
    for plan in (
        lambda: commands.delete_version(state, "address-value", 1, permanent=False),
        lambda: commands.delete_version(state, "address-value", "latest", permanent=False),
        lambda: commands.delete_subject(state, "address-value", permanent=False),
    ):
        with pytest.raises(ReferenceExistsError) as caught:
            plan()
        assert caught.value.error_code == 42206
        assert str(caught.value) == (
            "One or more references exist to the schema "
            "{magic=1,keytype=SCHEMA,subject=address-value,version=1}"
        )
    # soft-deleting the referencing version releases it (the soft delete keeps its references)
    run(state, commands.delete_version(state, "customer-value", 1, permanent=False))
    assert state.version("customer-value", 1, deleted=True).references == ref_tuple()
    assert state.referenced_by("address-value", 1) == []
    assert run(state, commands.delete_subject(state, "address-value", permanent=False)) == [1]
    with pytest.raises(VersionSoftDeletedError):
        commands.delete_version(state, "address-value", 1, permanent=False)
    assert run(state, commands.delete_subject(state, "address-value", permanent=True)) == [1]


def test_a_new_registration_may_not_reference_a_soft_deleted_version() -> None:
    state = RegistryState()
    register(state, "address-value", ADDRESS)
    run(state, commands.delete_subject(state, "address-value", permanent=False))
    with pytest.raises(InvalidSchemaTextError, match="No schema reference found"):
        register(state, "customer-value", customer(), ref())


@pytest.mark.parametrize(
    "records",
    [
        [SchemaRecord("a", 1, 1, ADDRESS), SchemaRecord("c", 1, 2, customer(), references=())],
    ],
)
def test_a_logged_schema_whose_references_are_missing_does_not_stop_the_state(
    records: list[LogRecord],
) -> None:
    state = RegistryState()
    for record in records:
        state.apply(record)
    assert state.schema(2) == customer()
    assert state.canonical(2) is None  # served as stored, never matched
