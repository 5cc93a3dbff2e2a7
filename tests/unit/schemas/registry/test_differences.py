"""Incompatibilities in Confluent's words: each case is a message Confluent's registry gave."""

from __future__ import annotations

import json
from typing import Any

import avro.schema

from streamworks.registry.canonical import confluent_text
from streamworks.registry.differences import OldSchema, differences, explain

GENDER = {"type": "enum", "name": "Gender", "symbols": ["MALE", "FEMALE"]}
EXAMPLE = {
    "type": "record",
    "name": "Example",
    "namespace": "ru.example",
    "fields": [
        {"name": "Age", "type": "int", "default": 0},
        {"name": "Name", "type": "string"},
        {"name": "Gender", "type": GENDER},
    ],
}


def parse(schema: Any) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema))


def old(schema: Any, version: int = 1) -> OldSchema:
    return OldSchema(version, parse(schema), confluent_text(json.dumps(schema)))


def with_fields(*fields: dict[str, Any]) -> dict[str, Any]:
    return {**EXAMPLE, "fields": [*EXAMPLE["fields"], *fields]}


def test_a_field_without_default_added_under_backward() -> None:
    messages = explain(
        parse(with_fields({"name": "LastName", "type": "string"})), [old(EXAMPLE)], "BACKWARD"
    )
    assert messages == [
        "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'LastName' at "
        "path '/fields/3' in the new schema has no default value and is missing in the old "
        "schema', additionalInfo:'LastName'}",
        "{oldSchemaVersion: 1}",
        "{oldSchema: '" + confluent_text(json.dumps(EXAMPLE)) + "'}",
        "{validateFields: 'false', compatibility: 'BACKWARD'}",
    ]


def test_enum_symbols_added_under_forward_and_removed_under_backward() -> None:
    more = {**GENDER, "symbols": ["MALE", "FEMALE", "OTHER"]}
    fewer = {**GENDER, "symbols": ["MALE"]}
    added = explain(
        parse({**EXAMPLE, "fields": [*EXAMPLE["fields"][:2], {"name": "Gender", "type": more}]}),
        [old(EXAMPLE)],
        "FORWARD",
    )
    assert added[0] == (
        "{errorType:'MISSING_ENUM_SYMBOLS', description:'The old schema is missing enum symbols "
        "'[OTHER]' at path '/fields/2/type/symbols' in the new schema', additionalInfo:'[OTHER]'}"
    )
    removed = explain(
        parse({**EXAMPLE, "fields": [*EXAMPLE["fields"][:2], {"name": "Gender", "type": fewer}]}),
        [old(EXAMPLE)],
        "BACKWARD",
    )
    assert (
        "The new schema is missing enum symbols '[FEMALE]' at path '/fields/2/type/symbols' "
        "in the old schema" in removed[0]
    )


def test_full_says_the_forward_problem_first_and_the_version_once() -> None:
    a_int = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}
    a_string = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    messages = explain(parse(a_string), [old(a_int)], "FULL")
    assert "in the old schema does not match with the new schema" in messages[0]
    assert "reader type: INT not compatible with writer type: STRING" in messages[0]
    assert "in the new schema does not match with the old schema" in messages[1]
    assert messages[2:4] == [
        "{oldSchemaVersion: 1}",
        "{oldSchema: '" + confluent_text(json.dumps(a_int)) + "'}",
    ]
    assert messages[4] == "{validateFields: 'false', compatibility: 'FULL'}"


def test_a_primitive_at_the_root() -> None:
    assert explain(parse("boolean"), [old("int")], "BACKWARD") == [
        "{errorType:'TYPE_MISMATCH', description:'The type (path '/') of a field in the new "
        "schema does not match with the old schema', additionalInfo:'reader type: BOOLEAN not "
        "compatible with writer type: INT'}",
        "{oldSchemaVersion: 1}",
        "{oldSchema: '\"int\"'}",
        "{validateFields: 'false', compatibility: 'BACKWARD'}",
    ]


def test_names_unions_and_promotions() -> None:
    renamed = {**EXAMPLE, "name": "Other"}
    [name] = differences(parse(renamed), parse(EXAMPLE))
    assert (name.kind, name.path, name.info) == (
        "NAME_MISMATCH",
        "/name",
        "expected: ru.example.Example",
    )
    optional = with_fields({"name": "x", "type": ["null", "string"], "default": None})
    wider = with_fields({"name": "x", "type": ["null", "string", "int"], "default": None})
    [branch] = differences(parse(optional), parse(wider))
    assert (branch.kind, branch.path) == ("MISSING_UNION_BRANCH", "/fields/3/type/2")
    assert branch.info == "reader union lacking writer type: INT"
    as_long = with_fields({"name": "n", "type": "long", "default": 0})
    as_int = with_fields({"name": "n", "type": "int", "default": 0})
    assert differences(parse(as_long), parse(as_int)) == []  # int widens to long


def test_transitive_levels_report_the_newest_version_that_fails() -> None:
    v1 = EXAMPLE
    v2 = with_fields({"name": "Note", "type": "string", "default": ""})
    breaking = {**EXAMPLE, "fields": [{"name": "Age", "type": "string"}]}
    messages = explain(parse(breaking), [old(v1, 1), old(v2, 2)], "BACKWARD_TRANSITIVE")
    assert "{oldSchemaVersion: 2}" in messages
    assert "{oldSchemaVersion: 1}" not in messages
    assert explain(parse(v2), [old(v1, 1)], "BACKWARD_TRANSITIVE") == []
