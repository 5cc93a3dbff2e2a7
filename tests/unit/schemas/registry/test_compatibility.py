"""Compatibility levels on Avro's resolution rules, without a broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamworks.schemas.compatibility import (
    LEVELS,
    InvalidCompatibilityLevelError,
    check,
    parse_level,
    reader_problems,
)
from streamworks.schemas.errors import InvalidSchemaError


def record(*fields: dict[str, Any], name: str = "User") -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields)}


ID = {"name": "id", "type": "long"}
NAME = {"name": "name", "type": "string"}
EMAIL_REQUIRED = {"name": "email", "type": "string"}
EMAIL_OPTIONAL = {"name": "email", "type": ["null", "string"], "default": None}

V1 = record(ID, NAME)
ADD_REQUIRED = record(ID, NAME, EMAIL_REQUIRED)
ADD_OPTIONAL = record(ID, NAME, EMAIL_OPTIONAL)
DROP_NAME = record(ID)


@pytest.mark.parametrize(
    ("level", "new", "compatible"),
    [
        ("NONE", ADD_REQUIRED, True),
        ("BACKWARD", ADD_OPTIONAL, True),
        ("BACKWARD", ADD_REQUIRED, False),
        ("BACKWARD", DROP_NAME, True),
        ("FORWARD", ADD_REQUIRED, True),
        ("FORWARD", DROP_NAME, False),
        ("FULL", ADD_OPTIONAL, True),
        ("FULL", ADD_REQUIRED, False),
        ("FULL", DROP_NAME, False),
    ],
)
def test_each_level_decides_with_the_avro_rules(
    level: str, new: dict[str, Any], compatible: bool
) -> None:
    assert (check(new, [V1], level) == []) is compatible


def test_backward_names_the_field_without_a_default() -> None:
    problems = check(ADD_REQUIRED, [V1], "BACKWARD")
    assert len(problems) == 1
    assert "'email'" in problems[0]
    assert "/fields/2" in problems[0]
    assert "no default" in problems[0]


def test_forward_names_the_removed_field() -> None:
    problems = check(DROP_NAME, [V1], "FORWARD")
    assert any("'name'" in problem for problem in problems)


def test_nested_type_changes_are_named_with_a_dotted_path() -> None:
    old = record({"name": "address", "type": record({"name": "zip", "type": "string"}, name="A")})
    new = record({"name": "address", "type": record({"name": "zip", "type": "int"}, name="A")})
    problems = check(new, [old], "BACKWARD")
    assert len(problems) == 1
    assert "'address.zip'" in problems[0]
    assert "int" in problems[0]


def test_several_problems_each_keep_their_own_field() -> None:
    old = record(ID, NAME)
    new = record({"name": "id", "type": "int"}, NAME, EMAIL_REQUIRED)
    problems = check(new, [old], "BACKWARD")
    assert len(problems) == 2
    by_field = {("'id'" in p, "'email'" in p): p for p in problems}
    assert "long" in by_field[(True, False)]
    assert "no default" in by_field[(False, True)]


def test_transitive_levels_check_every_version_the_others_only_the_latest() -> None:
    # v1 has no email; v2 adds it with a default; v3 drops the default.
    v2 = record(ID, NAME, {"name": "email", "type": "string", "default": ""})
    v3 = record(ID, NAME, EMAIL_REQUIRED)
    history = [V1, v2]
    assert check(v3, history, "BACKWARD") == []  # v3 reads v2's data: email is present
    problems = check(v3, history, "BACKWARD_TRANSITIVE")
    assert problems and all("schema 1" in problem for problem in problems)


def test_labels_name_the_versions_in_messages() -> None:
    problems = check(ADD_REQUIRED, [V1], "BACKWARD", labels=["version 7"])
    assert "version 7" in problems[0]


def test_a_union_reader_accepts_a_writer_branch_it_has() -> None:
    assert reader_problems('["null", "string"]', '"string"') == []
    assert reader_problems('"string"', '["null", "string"]') != []


def test_a_narrowed_optional_field_is_named_not_reported_at_the_root() -> None:
    problems = check(record(ID, NAME, EMAIL_REQUIRED), [ADD_OPTIONAL], "BACKWARD")
    assert problems
    assert all("'email'" in problem for problem in problems)


def test_first_schema_is_always_compatible() -> None:
    assert check(ADD_REQUIRED, [], "FULL_TRANSITIVE") == []


def test_levels_are_case_insensitive_and_checked() -> None:
    assert parse_level("full_transitive") == "FULL_TRANSITIVE"
    assert set(LEVELS) >= {"NONE", "BACKWARD", "FORWARD", "FULL"}
    with pytest.raises(InvalidCompatibilityLevelError, match="SIDEWAYS"):
        check(V1, [V1], "SIDEWAYS")


def test_invalid_schemas_raise_the_platform_error() -> None:
    with pytest.raises(InvalidSchemaError, match="invalid Avro schema"):
        check(json.dumps({"type": "record"}), [V1], "BACKWARD")
