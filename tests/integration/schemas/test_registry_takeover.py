"""Taking over a ``_schemas`` topic that Confluent's Schema Registry wrote.

The topic is written byte for byte in Confluent's record format (keys with ``magic``, a
DELETE_SUBJECT soft delete, a tombstone hard delete, CONFIG and MODE records, a NOOP, one
schema whose record name has a ``-``), then a registry starts on it: every answer is the
one Confluent gave before the takeover, and what the registry writes stays Confluent's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from streamworks.core.settings import Settings
from streamworks.registry.log import ensure_topic
from streamworks.testing import KafkaEndpoint, unique_name
from streamworks.testing.helpers import consume_until, produce
from streamworks.testing.registry import running_registry

CONFLUENT_KEYTYPES = {"SCHEMA", "CONFIG", "MODE", "NOOP", "DELETE_SUBJECT", "CLEAR_SUBJECT"}


def avro(name: str, *fields: str) -> str:
    """A record schema in the compact form Confluent stores."""
    columns: list[dict[str, Any]] = [{"name": "id", "type": "long"}]
    columns += [{"name": f, "type": ["null", "string"], "default": None} for f in fields]
    return json.dumps({"type": "record", "name": name, "fields": columns}, separators=(",", ":"))


ORDER_1, ORDER_2 = avro("Order"), avro("Order", "note")
PAYMENT_1, PAYMENT_2 = avro("Payment"), avro("Payment", "card")
LEGACY, GONE = avro("Legacy"), avro("Gone")
# Confluent's Java parser would refuse this name too, but Karapace and older tools wrote such
# schemas; here it stands for any stored text this registry's parser rejects
DASHED = '{"type": "record", "name": "bad-name", "fields": [{"name": "id", "type": "long"}]}'


def key(kind: str, subject: str | None = None, version: int | None = None) -> bytes:
    """Confluent's key bytes (Jackson, its field order)."""
    if kind == "NOOP":
        return b'{"keytype":"NOOP","magic":0}'
    if kind == "SCHEMA":
        return json.dumps(
            {"keytype": kind, "subject": subject, "version": version, "magic": 1},
            separators=(",", ":"),
        ).encode()
    fields = {"keytype": kind, "subject": subject, "magic": 0}
    return json.dumps(fields, separators=(",", ":")).encode()


def schema(subject: str, version: int, schema_id: int, text: str, *, deleted: bool = False) -> Any:
    value = {"subject": subject, "version": version, "id": schema_id, "schema": text}
    value["deleted"] = deleted
    return key("SCHEMA", subject, version), json.dumps(value, separators=(",", ":")).encode()


def confluent_topic() -> list[tuple[bytes, bytes | None]]:
    """The topic a Confluent registry leaves after the history the test checks."""
    return [
        (key("NOOP"), None),
        (key("CONFIG"), b'{"compatibilityLevel":"FORWARD"}'),
        schema("orders-value", 1, 1, ORDER_1),
        schema("orders-value", 2, 2, ORDER_2),
        (key("CONFIG", "orders-value"), b'{"compatibilityLevel":"FULL"}'),
        schema("shared-value", 1, 1, ORDER_1),
        schema("payments-value", 1, 3, PAYMENT_1),
        schema("payments-value", 2, 4, PAYMENT_2),
        schema("payments-value", 2, 4, PAYMENT_2, deleted=True),  # a soft-deleted version
        (key("MODE", "payments-value"), b'{"subject":"payments-value","mode":"READONLY"}'),
        schema("legacy-value", 1, 5, LEGACY),
        (  # a soft-deleted subject, as Confluent writes it
            key("DELETE_SUBJECT", "legacy-value"),
            b'{"subject":"legacy-value","version":1}',
        ),
        schema("gone-value", 1, 6, GONE),
        schema("gone-value", 1, 6, GONE, deleted=True),
        (key("SCHEMA", "gone-value", 1), None),  # hard-deleted
        schema("dash-value", 1, 7, DASHED),
        (key("NOOP"), None),
    ]


@pytest.fixture
async def taken_over(kafka: KafkaEndpoint) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    topic = unique_name("_schemas")
    await ensure_topic(Settings(bootstrap_servers=kafka.bootstrap_servers), topic)
    await produce(kafka.bootstrap_servers, topic, confluent_topic(), partition=0)
    async with (
        running_registry(kafka.bootstrap_servers, topic=topic) as registry,
        httpx.AsyncClient(base_url=registry.url) as http,
    ):
        await registry.wait_primary(30)
        yield topic, http


async def get(http: httpx.AsyncClient, path: str) -> tuple[int, Any]:
    response = await http.get(path)
    return response.status_code, response.json()


async def test_every_answer_is_the_one_confluent_gave(
    taken_over: tuple[str, httpx.AsyncClient],
) -> None:
    _, http = taken_over
    live = ["dash-value", "orders-value", "payments-value", "shared-value"]
    assert await get(http, "/subjects") == (200, live)
    assert await get(http, "/subjects?deleted=true") == (200, sorted([*live, "legacy-value"]))
    assert await get(http, "/subjects/orders-value/versions") == (200, [1, 2])
    assert await get(http, "/subjects/orders-value/versions/2") == (
        200,
        {"subject": "orders-value", "version": 2, "id": 2, "schema": ORDER_2},
    )
    assert await get(http, "/schemas/ids/1") == (200, {"schema": ORDER_1})
    assert await get(http, "/schemas/ids/1/subjects") == (200, ["orders-value", "shared-value"])
    # soft deletes: a version, and a whole subject (DELETE_SUBJECT)
    assert await get(http, "/subjects/payments-value/versions") == (200, [1])
    assert await get(http, "/subjects/payments-value/versions?deleted=true") == (200, [1, 2])
    status, deleted = await get(http, "/subjects/payments-value/versions/2?deleted=true")
    assert (status, deleted["id"]) == (200, 4)
    assert (await http.get("/subjects/legacy-value/versions")).json()["error_code"] == 40401
    assert await get(http, "/subjects/legacy-value/versions?deleted=true") == (200, [1])
    assert await get(http, "/schemas/ids/5") == (200, {"schema": LEGACY})
    # the hard delete
    assert (await http.get("/subjects/gone-value/versions?deleted=true")).status_code == 404
    assert (await http.get("/schemas/ids/6")).json()["error_code"] == 40403
    # config and mode
    assert await get(http, "/config") == (200, {"compatibilityLevel": "FORWARD"})
    assert await get(http, "/config/orders-value") == (200, {"compatibilityLevel": "FULL"})
    assert await get(http, "/mode") == (200, {"mode": "READWRITE"})
    assert await get(http, "/mode/payments-value") == (200, {"mode": "READONLY"})
    refused = await http.post(
        "/subjects/payments-value/versions", json={"schema": avro("Payment", "x")}
    )
    assert (refused.status_code, refused.json()) == (
        422,
        {"error_code": 42205, "message": "Subject payments-value is in read-only mode"},
    )
    # the schema this parser rejects: served as stored, and no 500 on its subject
    assert await get(http, "/subjects/dash-value/versions/1") == (
        200,
        {"subject": "dash-value", "version": 1, "id": 7, "schema": DASHED},
    )
    assert await get(http, "/schemas/ids/7") == (200, {"schema": DASHED})
    for version in ("latest", "1"):  # the unparsable version is left out of the check
        path = f"/compatibility/subjects/dash-value/versions/{version}"
        check = await http.post(path, json={"schema": LEGACY})
        assert (check.status_code, check.json()) == (200, {"is_compatible": True}), check.text
    registered = await http.post("/subjects/dash-value/versions", json={"schema": avro("Fixed")})
    assert (registered.status_code, registered.json()) == (200, {"id": 8})
    # a known schema keeps its id; a new one takes the next after the highest ever seen
    again = await http.post("/subjects/orders-value/versions", json={"schema": ORDER_2})
    assert again.json() == {"id": 2}
    fresh = await http.post("/subjects/new-value/versions", json={"schema": avro("New")})
    assert fresh.json() == {"id": 9}


async def test_what_the_registry_writes_is_in_confluents_format(
    kafka: KafkaEndpoint, taken_over: tuple[str, httpx.AsyncClient]
) -> None:
    topic, http = taken_over
    await http.put("/mode/new-value", json={"mode": "IMPORT"})
    imported = {"schema": avro("Imported"), "id": 50, "version": 3}
    assert (await http.post("/subjects/new-value/versions", json=imported)).json() == {"id": 50}
    await http.put("/config/new-value", json={"compatibility": "NONE"})
    written = await consume_until(
        kafka.bootstrap_servers,
        topic,
        until=lambda seen: any(b'"compatibilityLevel":"NONE"' in (r.value or b"") for r in seen),
    )
    ours = written[len(confluent_topic()) :]
    assert ours, "the registry wrote nothing"
    for record in ours:
        fields = json.loads(record.key)
        assert fields["keytype"] in CONFLUENT_KEYTYPES, record.key
        if fields["keytype"] == "SCHEMA":
            assert record.key == key("SCHEMA", fields["subject"], fields["version"])
    assert (key("MODE", "new-value"), b'{"mode":"IMPORT","subject":"new-value"}') in {
        (r.key, r.value) for r in ours
    }
    stored = [json.loads(r.value) for r in ours if r.key == key("SCHEMA", "new-value", 3)]
    assert stored and stored[0]["id"] == 50
