"""Modes (READWRITE, READONLY, READONLY_OVERRIDE, IMPORT) and reading other registries' records.

The mode API runs on aiohttp's test client over a state fed through the log's bytes (every
write is encoded as the writer would send it and decoded as the reader would read it), so
what is checked is what a Confluent client sees and what another instance would rebuild.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streamworks.registry import commands
from streamworks.registry.api import build_app
from streamworks.registry.auth import Authenticator
from streamworks.registry.canonical import confluent_text
from streamworks.registry.forwarding import WriteOutcome, WriteRequest
from streamworks.registry.records import (
    ClearSubjectRecord,
    ConfigRecord,
    DeleteSubjectRecord,
    IdWatermarkRecord,
    ModeRecord,
    PrimaryRecord,
    SchemaRecord,
    decode,
    encode,
    encode_all,
)
from streamworks.registry.state import RegistryState

Client = TestClient[Any, Any]


Command = Callable[[RegistryState], commands.Plan[Any]]


@dataclass
class LogInstance:
    """A registry instance whose writes go through the log's bytes into its state."""

    state: RegistryState = field(default_factory=RegistryState)
    authenticator: Authenticator | None = None
    connections: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)

    async def write(self, command: Command, _: WriteRequest, *, forwarded: bool) -> WriteOutcome:
        plan = command(self.state)
        pairs = [pair for record in plan.records for pair in encode_all(record)]
        for decoded in (decode(*pair) for pair in pairs):
            if decoded is not None:
                self.state.apply(decoded)
        return WriteOutcome(200, json.dumps(plan.result).encode(), None)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(LogInstance()))) as running:
        yield running


def record(name: str = "User", *fields: str) -> str:
    columns = [{"name": "id", "type": "long"}]
    columns += [{"name": f, "type": "string", "default": ""} for f in fields]
    return json.dumps({"type": "record", "name": name, "fields": columns})


async def answer(response: Any) -> tuple[int, Any]:
    return response.status, await response.json()


def refused(code: int, message: str) -> tuple[int, dict[str, Any]]:
    return 422, {"error_code": code, "message": message}


# -- the mode API -------------------------------------------------------------------------


async def test_modes_global_and_per_subject_as_confluent_answers_them(client: Client) -> None:
    assert await answer(await client.get("/mode")) == (200, {"mode": "READWRITE"})
    missing = {
        "error_code": 40409,
        "message": "Subject 's' does not have subject-level mode configured",
    }
    assert await answer(await client.get("/mode/s")) == (404, missing)
    assert await answer(await client.get("/mode/s?defaultToGlobal=true")) == (
        200,
        {"mode": "READWRITE"},
    )
    assert await answer(await client.put("/mode/s", json={"mode": "readonly"})) == (
        200,
        {"mode": "readonly"},
    )
    assert await answer(await client.get("/mode/s")) == (200, {"mode": "READONLY"})
    assert await answer(await client.put("/mode/s", json={"mode": "SOMETIMES"})) == refused(
        42204, "Invalid mode. Valid values are READWRITE, READONLY, and IMPORT."
    )
    assert await answer(await client.delete("/mode/s")) == (200, {"mode": "READONLY"})
    assert await answer(await client.delete("/mode/s")) == (
        404,
        {"error_code": 40401, "message": "Subject 's' not found."},
    )
    # a global READONLY_OVERRIDE is every subject's mode, even one with its own
    await client.put("/mode/s", json={"mode": "READWRITE"})
    await client.put("/mode", json={"mode": "READONLY_OVERRIDE"})
    assert await answer(await client.get("/mode/s")) == (200, {"mode": "READONLY_OVERRIDE"})
    assert await answer(await client.get("/mode")) == (200, {"mode": "READONLY_OVERRIDE"})


async def test_read_only_refuses_every_write_with_42205(client: Client) -> None:
    await client.post("/subjects/s/versions", json={"schema": record()})
    assert (await client.put("/mode/s", json={"mode": "READONLY"})).status == 200
    read_only = refused(42205, "Subject s is in read-only mode")
    assert (
        await answer(
            await client.post("/subjects/s/versions", json={"schema": record("User", "x")})
        )
        == read_only
    )
    assert await answer(await client.delete("/subjects/s/versions/1")) == read_only
    assert await answer(await client.delete("/subjects/s")) == read_only
    assert await answer(await client.put("/config/s", json={"compatibility": "NONE"})) == read_only
    # reads go on, and so do other subjects
    assert (await client.get("/subjects/s/versions/1")).status == 200
    assert (await client.post("/subjects/t/versions", json={"schema": record()})).status == 200
    await client.put("/mode", json={"mode": "READONLY"})
    assert await answer(
        await client.post("/subjects/t/versions", json={"schema": record("User", "y")})
    ) == refused(42205, "Subject t is in read-only mode")
    assert await answer(await client.put("/config", json={"compatibility": "NONE"})) == refused(
        42205, "Subject null is in read-only mode"
    )


async def test_import_registers_with_the_given_id_and_version(client: Client) -> None:
    await client.post("/subjects/live/versions", json={"schema": record("Live")})
    # IMPORT needs an empty registry, or force
    assert await answer(await client.put("/mode", json={"mode": "IMPORT"})) == refused(
        42205, "Cannot import since found existing subjects"
    )
    assert await answer(await client.put("/mode/new", json={"mode": "IMPORT"})) == (
        200,
        {"mode": "IMPORT"},
    )
    given = {"schema": record("Imported"), "id": 100, "version": 7}
    assert await answer(await client.post("/subjects/new/versions", json=given)) == (
        200,
        {"id": 100},
    )
    version = await (await client.get("/subjects/new/versions/7")).json()
    assert (version["id"], version["version"]) == (100, 7)
    assert (await client.get("/schemas/ids/100")).status == 200
    # again: the same answer, nothing new
    assert await answer(await client.post("/subjects/new/versions", json=given)) == (
        200,
        {"id": 100},
    )
    # compatibility is not checked while importing; the next version follows the highest
    other = {"schema": json.dumps({"type": "string"}), "id": 101}
    assert await answer(await client.post("/subjects/new/versions", json=other)) == (
        200,
        {"id": 101},
    )
    assert await (await client.get("/subjects/new/versions")).json() == [7, 8]
    # an id another schema has is refused; so is another id for a schema the subject has
    clash = {"schema": record("Clash"), "id": 100}
    assert await answer(await client.post("/subjects/new/versions", json=clash)) == refused(
        42205, "Overwrite new schema with id 100 is not permitted."
    )
    renumbered = {"schema": record("Imported"), "id": 102}
    assert await answer(await client.post("/subjects/new/versions", json=renumbered)) == refused(
        42207, "Schema already registered with id 100 instead of input id 102"
    )
    # a registration without an id is not an import
    assert await answer(
        await client.post("/subjects/new/versions", json={"schema": record("Plain")})
    ) == refused(42205, "Subject new is not in read-write mode")
    # an id outside IMPORT mode is refused
    assert await answer(
        await client.post("/subjects/live/versions", json={"schema": record("X"), "id": 5})
    ) == refused(42205, "Subject live is not in import mode")
    # ids handed out later never collide with imported ones
    await client.delete("/mode/new")
    fresh = await answer(
        await client.post("/subjects/later/versions", json={"schema": record("Later")})
    )
    assert fresh == (200, {"id": 102})


async def test_import_with_force_and_over_soft_deleted_versions(client: Client) -> None:
    await client.post("/subjects/s/versions", json={"schema": record("Old")})
    assert await answer(await client.put("/mode?force=true", json={"mode": "IMPORT"})) == (
        200,
        {"mode": "IMPORT"},
    )
    await client.put("/mode", json={"mode": "READWRITE"})
    await client.delete("/subjects/s")
    # only soft-deleted versions left: IMPORT is allowed and erases them
    assert (await client.put("/mode/s", json={"mode": "IMPORT"})).status == 200
    assert await (await client.get("/subjects?deleted=true")).json() == []
    given = {"schema": record("New"), "id": 40, "version": 1}
    assert await answer(await client.post("/subjects/s/versions", json=given)) == (
        200,
        {"id": 40},
    )


async def test_a_version_alone_must_be_the_next_one(client: Client) -> None:
    first = {"schema": record("A"), "version": 1}
    assert await answer(await client.post("/subjects/s/versions", json=first)) == (200, {"id": 1})
    skip = {"schema": record("A", "x"), "version": 3}
    assert await answer(await client.post("/subjects/s/versions", json=skip)) == refused(
        42201, "Version is not one more than previous version"
    )


# -- the records of other registries ------------------------------------------------------


def raw(key: dict[str, Any], value: dict[str, Any] | None) -> tuple[bytes, bytes | None]:
    return json.dumps(key).encode(), None if value is None else json.dumps(value).encode()


def test_confluent_and_karapace_keys_of_every_kind_are_read() -> None:
    schema_value = {"subject": "s", "version": 2, "id": 7, "schema": '"string"', "deleted": True}
    cases = [
        (
            raw({"keytype": "SCHEMA", "subject": "s", "version": 2, "magic": 1}, schema_value),
            SchemaRecord("s", 2, 7, '"string"', deleted=True),
        ),
        (  # Karapace's older field order
            raw({"subject": "s", "version": 2, "magic": 1, "keytype": "SCHEMA"}, None),
            SchemaRecord("s", 2, hard=True),
        ),
        (
            raw({"keytype": "CONFIG", "subject": None, "magic": 0}, {"compatibilityLevel": "FULL"}),
            ConfigRecord(None, "FULL"),
        ),
        (raw({"keytype": "CONFIG", "subject": "s", "magic": 0}, None), ConfigRecord("s", None)),
        (
            raw(
                {"keytype": "MODE", "subject": "s", "magic": 0}, {"subject": "s", "mode": "IMPORT"}
            ),
            ModeRecord("s", "IMPORT"),
        ),
        (
            raw(
                {"keytype": "DELETE_SUBJECT", "subject": "s", "magic": 0},
                {"subject": "s", "version": 3},
            ),
            DeleteSubjectRecord("s", 3),
        ),
        (
            raw({"keytype": "CLEAR_SUBJECT", "subject": "s", "magic": 0}, {"subject": "s"}),
            ClearSubjectRecord("s"),
        ),
        (raw({"keytype": "NOOP", "magic": 0}, None), None),
        (raw({"keytype": "ID_WATERMARK"}, {"maxId": 9}), IdWatermarkRecord(9)),  # ours, older
        (raw({"keytype": "CONTEXT", "tenant": "t"}, {}), None),
    ]
    for (key, value), expected in cases:
        assert decode(key, value) == expected
    assert decode(b'{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}', b"") == (
        SchemaRecord("s", 1, hard=True)
    )


def test_records_are_written_as_confluent_writes_them() -> None:
    key, value = encode(SchemaRecord("s", 1, 3, '"string"'))
    assert key == b'{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}'
    assert value is not None
    assert json.loads(value) == {
        "subject": "s",
        "version": 1,
        "id": 3,
        "schema": '"string"',
        "schemaType": "AVRO",
        "deleted": False,
    }
    assert encode(ConfigRecord(None, "FULL"))[0] == b'{"keytype":"CONFIG","subject":null,"magic":0}'
    assert encode(ModeRecord("s", "READONLY")) == (
        b'{"keytype":"MODE","subject":"s","magic":0}',
        b'{"mode":"READONLY","subject":"s"}',
    )
    # our own bookkeeping rides on NOOP keys, which Confluent and Karapace skip
    for ours in (IdWatermarkRecord(4), PrimaryRecord("http://x", "i")):
        assert json.loads(encode(ours)[0])["keytype"] == "NOOP"
        assert decode(*encode(ours)) == ours
    # a hard delete erases the key in every byte form it may have been written in
    keys = [k for k, v in encode_all(SchemaRecord("s", 1, hard=True)) if v is None]
    assert keys == [
        b'{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}',
        b'{"subject":"s","version":1,"magic":1,"keytype":"SCHEMA"}',
        b'{"keytype":"SCHEMA","subject":"s","version":1}',
    ]


def test_delete_subject_and_clear_subject_apply_as_confluent_means_them() -> None:
    state = RegistryState()
    for version in (1, 2, 3):
        state.apply(SchemaRecord("s", version, version, record(f"V{version}")))
    state.apply(DeleteSubjectRecord("s", 2))
    assert [r.version for r in state.versions("s")] == [3]
    assert [r.version for r in state.versions("s", deleted=True)] == [1, 2, 3]
    state.apply(ClearSubjectRecord("s"))
    assert [r.version for r in state.versions("s", deleted=True)] == [3]
    assert not state.has_id(1)


def test_an_unparsable_stored_schema_is_served_as_stored_and_skipped_once_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dashed = '{"type": "record", "name": "bad-name", "fields": [{"name": "id", "type": "long"}]}'
    state = RegistryState()
    with caplog.at_level(logging.WARNING, logger="streamworks.registry.state"):
        state.apply(SchemaRecord("s", 1, 1, dashed))
        state.apply(SchemaRecord("s", 1, 1, dashed, deleted=True))
        state.apply(SchemaRecord("s", 1, 1, dashed))
    assert state.version("s", 1).schema == dashed
    assert state.schema(1) == dashed
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "schema id 1 (subject 's' version 1)" in warnings[0]
    # checks and registrations on the subject go on: the bad version is left out
    candidate = commands.validate_schema(record("Good"))
    assert commands.compatibility_problems(state, "s", candidate, state.versions("s")) == []
    plan = commands.register(state, "s", candidate)
    assert plan.result == {"id": 2}


def test_schema_text_is_served_in_avro_javas_compact_form() -> None:
    text = json.dumps(
        {
            "fields": [
                {"default": "", "type": {"type": "string"}, "name": "a", "doc": "the a"},
                {"name": "e", "type": {"symbols": ["X"], "name": "E", "type": "enum"}},
                {"name": "again", "type": "com.acme.E"},
                {"name": "when", "type": {"logicalType": "date", "type": "int"}},
                {"name": "other", "type": ["null", {"type": "fixed", "name": "x.F", "size": 2}]},
            ],
            "name": "R",
            "namespace": "com.acme",
            "type": "record",
            "owner": "team",
        },
        indent=2,
    )
    assert confluent_text(text) == (
        '{"type":"record","name":"R","namespace":"com.acme","fields":['
        '{"name":"a","type":"string","doc":"the a","default":""},'
        '{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},'
        '{"name":"again","type":"E"},'
        '{"name":"when","type":{"type":"int","logicalType":"date"}},'
        '{"name":"other","type":["null",{"type":"fixed","name":"F","namespace":"x","size":2}]}'
        '],"owner":"team"}'
    )
    state = RegistryState()
    state.apply(SchemaRecord("s", 1, 1, text))
    assert state.version("s", 1).schema == confluent_text(text)
    assert state.schema(1) == confluent_text(text)
