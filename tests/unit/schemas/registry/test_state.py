"""The registry's model rebuilt from log records, and its write commands, without a broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamworks.registry import commands
from streamworks.registry.errors import (
    IncompatibleError,
    InvalidLevelError,
    InvalidSchemaTextError,
    InvalidVersionError,
    SchemaIdNotFoundError,
    SubjectConfigNotFoundError,
    SubjectNotFoundError,
    SubjectNotSoftDeletedError,
    SubjectSoftDeletedError,
    VersionNotFoundError,
    VersionNotSoftDeletedError,
    VersionSoftDeletedError,
)
from streamworks.registry.records import (
    ConfigRecord,
    IdWatermarkRecord,
    LogRecord,
    PrimaryRecord,
    SchemaRecord,
    decode,
    encode,
)
from streamworks.registry.state import RegistryState, canonical_form, parse_version


def schema(*fields: str, name: str = "R") -> str:
    return json.dumps(
        {"type": "record", "name": name, "fields": [{"name": f, "type": "string"} for f in fields]}
    )


def compact(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"))


def replay(records: list[LogRecord]) -> RegistryState:
    """A state rebuilt the way the reader does it: through the bytes on the log."""
    state = RegistryState()
    for record in records:
        decoded = decode(*encode(record))
        assert decoded is not None
        state.apply(decoded)
    return state


def run(state: RegistryState, plan: commands.Plan[Any]) -> Any:
    for record in plan.records:
        decoded = decode(*encode(record))
        assert decoded is not None
        state.apply(decoded)
    return plan.result


def register(state: RegistryState, subject: str, text: str) -> int:
    result = run(state, commands.register(state, subject, commands.validate_schema(text)))
    assert isinstance(result, dict)
    return int(result["id"])


@pytest.mark.parametrize(
    "record",
    [
        SchemaRecord("s", 1, 7, schema("a")),
        SchemaRecord("s", 2, 8, schema("a"), deleted=True),
        SchemaRecord("s", 3, hard=True),
        ConfigRecord(None, "FULL"),
        ConfigRecord("s", None),
        IdWatermarkRecord(9),
        PrimaryRecord("http://127.0.0.1:1", "abc"),
    ],
)
def test_records_survive_the_round_trip_through_bytes(record: LogRecord) -> None:
    assert decode(*encode(record)) == record


def test_keys_are_stable_bytes_so_compaction_keeps_one_per_key() -> None:
    first, _ = encode(SchemaRecord("s", 1, 1, schema("a")))
    again, _ = encode(SchemaRecord("s", 1, 1, schema("a"), deleted=True))
    assert first == again
    assert decode(b'{"keytype":"SOMETHING_NEW"}', b"{}") is None


def test_state_is_rebuilt_from_records() -> None:
    state = replay(
        [
            SchemaRecord("a", 1, 1, schema("x")),
            SchemaRecord("a", 2, 2, schema("x", "y")),
            SchemaRecord("b", 1, 1, schema("x")),
            ConfigRecord("a", "FULL"),
        ]
    )
    assert state.subjects() == ["a", "b"]
    assert [r.version for r in state.versions("a")] == [1, 2]
    assert state.version("a", "latest").schema_id == 2
    assert [(r.subject, r.version) for r in state.usages(1)] == [("a", 1), ("b", 1)]
    assert state.effective_level("a") == "FULL"
    assert state.effective_level("b") == "BACKWARD"
    assert state.max_id == 2


def test_same_schema_same_id_and_other_subjects_reuse_it() -> None:
    state = RegistryState()
    run(state, commands.set_config(state, None, "NONE"))
    first = register(state, "a", schema("x"))
    # whitespace and key order do not make a new schema
    spaced = json.dumps(json.loads(schema("x")), indent=4, sort_keys=True)
    assert register(state, "a", spaced) == first
    assert len(state.versions("a")) == 1
    assert register(state, "b", schema("x")) == first
    assert register(state, "a", schema("x", "y", name="Other")) == first + 1


def test_a_default_makes_a_different_schema() -> None:
    plain = schema("x")
    defaulted = json.dumps(
        {"type": "record", "name": "R", "fields": [{"name": "x", "type": "string", "default": ""}]}
    )
    assert canonical_form(plain) != canonical_form(defaulted)


def test_incompatible_registration_names_the_field_and_writes_nothing() -> None:
    state = RegistryState()
    register(state, "a", schema("x"))
    text = schema("x", "y")
    run(state, commands.set_config(state, "a", "backward"))
    with pytest.raises(IncompatibleError, match="'y'"):
        commands.register(state, "a", commands.validate_schema(text))
    run(state, commands.set_config(state, "a", "NONE"))
    assert register(state, "a", text) == 2


def test_soft_delete_hides_versions_but_ids_still_resolve() -> None:
    state = RegistryState()
    schema_id = register(state, "a", schema("x"))
    assert run(state, commands.delete_subject(state, "a", permanent=False)) == [1]
    assert state.subjects() == []
    assert state.subjects(deleted=True) == ["a"]
    assert state.schema(schema_id) == compact(schema("x"))  # served as Confluent serves it
    with pytest.raises(SubjectNotFoundError):
        state.version("a", 1)
    assert state.version("a", 1, deleted=True).deleted
    with pytest.raises(SubjectSoftDeletedError):
        commands.delete_subject(state, "a", permanent=False)


def test_permanent_delete_needs_a_soft_delete_first() -> None:
    state = RegistryState()
    register(state, "a", schema("x"))
    with pytest.raises(SubjectNotSoftDeletedError):
        commands.delete_subject(state, "a", permanent=True)
    run(state, commands.delete_subject(state, "a", permanent=False))
    assert run(state, commands.delete_subject(state, "a", permanent=True)) == [1]
    assert state.subjects(deleted=True) == []
    with pytest.raises(SchemaIdNotFoundError):
        state.schema(1)
    with pytest.raises(SubjectNotFoundError):
        commands.delete_subject(state, "a", permanent=False)


def test_version_deletes_follow_the_same_rules() -> None:
    state = RegistryState()
    register(state, "a", schema("x"))
    run(state, commands.set_config(state, "a", "NONE"))
    register(state, "a", schema("y"))
    with pytest.raises(VersionNotSoftDeletedError):
        commands.delete_version(state, "a", 1, permanent=True)
    assert run(state, commands.delete_version(state, "a", 1, permanent=False)) == 1
    with pytest.raises(VersionSoftDeletedError):
        commands.delete_version(state, "a", 1, permanent=False)
    assert run(state, commands.delete_version(state, "a", 1, permanent=True)) == 1
    with pytest.raises(VersionNotFoundError):
        commands.delete_version(state, "a", 1, permanent=False)
    assert [r.version for r in state.versions("a", deleted=True)] == [2]


def test_ids_are_never_reused_after_a_hard_delete_even_once_compacted() -> None:
    state = RegistryState()
    register(state, "a", schema("x"))
    second = register(state, "b", schema("y"))
    run(state, commands.delete_subject(state, "b", permanent=False))
    run(state, commands.delete_subject(state, "b", permanent=True))
    # compaction may drop b's records entirely; the watermark keeps the highest id
    compacted = replay([SchemaRecord("a", 1, 1, schema("x")), IdWatermarkRecord(second)])
    for current in (state, compacted):
        assert register(current, "c", schema("z")) == second + 1


def test_re_registering_a_soft_deleted_schema_adds_a_version_with_the_same_id() -> None:
    state = RegistryState()
    schema_id = register(state, "a", schema("x"))
    run(state, commands.delete_subject(state, "a", permanent=False))
    assert register(state, "a", schema("x")) == schema_id
    assert [r.version for r in state.versions("a")] == [2]


def test_lookup_finds_the_version_or_says_why_not() -> None:
    state = RegistryState()
    register(state, "a", schema("x"))
    found = commands.lookup(state, "a", commands.validate_schema(schema("x")))
    assert found == {"subject": "a", "id": 1, "version": 1, "schema": compact(schema("x"))}
    with pytest.raises(SchemaIdNotFoundError):
        commands.lookup(state, "a", commands.validate_schema(schema("y")))
    with pytest.raises(SubjectNotFoundError):
        commands.lookup(state, "nope", commands.validate_schema(schema("x")))


def test_configs_set_reset_and_validate() -> None:
    state = RegistryState()
    with pytest.raises(InvalidLevelError):
        commands.set_config(state, None, "SOMETIMES")
    run(state, commands.set_config(state, None, "forward"))
    assert state.effective_level("anything") == "FORWARD"
    with pytest.raises(SubjectNotFoundError):
        commands.delete_config(state, "nobody")
    register(state, "a", schema("x"))
    with pytest.raises(SubjectConfigNotFoundError):
        commands.delete_config(state, "a")
    run(state, commands.set_config(state, "a", "FULL"))
    assert run(state, commands.delete_config(state, "a")) == {"compatibilityLevel": "FULL"}
    assert state.level("a") is None


@pytest.mark.parametrize("text", ["0", "-2", "abc", "1.5", str(2**31)])
def test_invalid_versions_are_refused(text: str) -> None:
    with pytest.raises(InvalidVersionError):
        parse_version(text)


def test_latest_and_minus_one_mean_the_latest() -> None:
    assert parse_version("latest") == parse_version("-1") == "latest"
    assert parse_version("3") == 3


@pytest.mark.parametrize(
    ("body_schema", "schema_type", "references"),
    [
        ("not json", None, None),
        ('{"type": "record"}', None, None),
        ("", None, None),
        (None, None, None),
        ('"string"', "PROTOBUF", None),
        ('"string"', "AVRO", [{"name": "x", "subject": "y"}]),
        ('"string"', "AVRO", {"name": "x", "subject": "y", "version": 1}),
    ],
)
def test_invalid_schemas_are_refused_with_42201(
    body_schema: object, schema_type: object, references: object
) -> None:
    with pytest.raises(InvalidSchemaTextError) as caught:
        commands.validate_schema(body_schema, schema_type, references)
    assert caught.value.error_code == 42201
