"""The registry's REST surface as a Confluent client sees it, on aiohttp's test client.

The writes run against an in-memory state (no broker): these tests are about routes,
content types and Confluent's exact answers, not about the log.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from streamworks.registry import commands
from streamworks.registry.api import build_app
from streamworks.registry.auth import Authenticator
from streamworks.registry.errors import NotAcceptableError
from streamworks.registry.forwarding import WriteOutcome, WriteRequest
from streamworks.registry.media import CONTENT_TYPE, negotiate
from streamworks.registry.state import RegistryState

Client = TestClient[Any, Any]
INVALID_VERSION = (
    "The specified version '{}' is not a valid version id. "
    'Allowed values are between [1, 2^31-1] and the string "latest"'
)


class MemoryInstance:
    """A registry instance whose writes apply straight to its state."""

    def __init__(self) -> None:
        self.authenticator: Authenticator | None = None
        self.state = RegistryState()
        self.connections: weakref.WeakSet[Any] = weakref.WeakSet()

    async def write(
        self,
        command: Callable[[RegistryState], commands.Plan[Any]],
        request: WriteRequest,
        *,
        forwarded: bool,
    ) -> WriteOutcome:
        del request, forwarded
        plan = command(self.state)
        for record in plan.records:
            self.state.apply(record)
        return WriteOutcome(200, json.dumps(plan.result).encode(), None)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(MemoryInstance()))) as running:
        yield running


def record(*fields: str) -> str:
    columns = [{"name": "id", "type": "long"}]
    columns += [{"name": f, "type": "string", "default": ""} for f in fields]
    return json.dumps({"type": "record", "name": "User", "fields": columns})


def path(subject: str) -> str:
    """The subject as a client puts it in a URL (every reserved character encoded)."""
    return quote(subject, safe="")


async def register(client: Client, subject: str, schema: str) -> int:
    response = await client.post(f"/subjects/{path(subject)}/versions", json={"schema": schema})
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


def parsed(answer: Any) -> Any:
    """A version (or a list of them) with its schema text parsed: the registry may answer
    the schema in a canonical form, so compare meaning, not whitespace."""
    if isinstance(answer, list):
        return [parsed(item) for item in answer]
    return {**answer, "schema": json.loads(answer["schema"])}


async def error(response: ClientResponse) -> tuple[int, int, str]:
    """Status, error code and message, checking the body is exactly Confluent's two keys."""
    body = await response.json(content_type=None)
    assert set(body) == {"error_code", "message"}, body
    return response.status, body["error_code"], body["message"]


# -- row 1: odd subjects, trailing slashes ----------------------------------------------------

ODD_SUBJECTS = ["with{braces}", '"quoted"', "colon:it", "it's", "a/b/c.proto", "50%", "é ü"]


@pytest.mark.parametrize("subject", ODD_SUBJECTS)
async def test_every_subject_route_serves_odd_subjects(client: Client, subject: str) -> None:
    schema_id = await register(client, subject, record())
    base = f"/subjects/{path(subject)}"
    assert await (await client.get("/subjects")).json() == [subject]
    assert await (await client.get(f"{base}/versions")).json() == [1]
    latest = await (await client.get(f"{base}/versions/latest")).json()
    assert parsed(latest) == parsed(
        {"subject": subject, "version": 1, "id": schema_id, "schema": record()}
    )
    assert json.loads(await (await client.get(f"{base}/versions/1/schema")).text()) == json.loads(
        record()
    )
    assert await (await client.get(f"{base}/versions/1/referencedby")).json() == []
    found = await (await client.post(base, json={"schema": record()})).json()
    assert (found["subject"], found["id"]) == (subject, schema_id)
    check = f"/compatibility/subjects/{path(subject)}/versions"
    compatible = {"is_compatible": True}
    assert await (await client.post(f"{check}/1", json={"schema": record("x")})).json() == (
        compatible
    )
    assert await (await client.post(check, json={"schema": record("x")})).json() == compatible
    config = f"/config/{path(subject)}"
    assert (await client.put(config, json={"compatibility": "FULL"})).status == 200
    assert await (await client.get(config)).json() == {"compatibilityLevel": "FULL"}
    assert await (await client.delete(config)).json() == {"compatibilityLevel": "FULL"}
    assert (await client.get(f"/mode/{path(subject)}?defaultToGlobal=true")).status == 200
    assert await (await client.get(f"/schemas/ids/{schema_id}/subjects")).json() == [subject]
    assert await (await client.delete(f"{base}/versions/1")).json() == 1
    assert await (await client.delete(f"{base}/versions/1?permanent=true")).json() == 1
    assert await error(await client.get(f"{base}/versions")) == (
        404,
        40401,
        f"Subject '{subject}' not found.",
    )


async def test_routes_answer_with_a_trailing_slash(client: Client) -> None:
    assert (await client.put("/config/s/", json={"compatibility": "NONE"})).status == 200
    response = await client.post("/subjects/s/versions/", json={"schema": record()})
    assert await response.json() == {"id": 1}
    answer = await (await client.get("/subjects/s/versions/1/")).json()
    assert parsed(answer) == parsed({"subject": "s", "version": 1, "id": 1, "schema": record()})
    check = await client.post("/compatibility/subjects/s/versions/latest/", json={"schema": "{"})
    assert (await error(check))[:2] == (422, 42201)
    assert await (await client.get("/schemas/")).json() != []
    assert await (await client.get("/config/")).json() == {"compatibilityLevel": "BACKWARD"}


# -- row 2: GET /schemas ------------------------------------------------------------------------


async def test_get_schemas_lists_versions_with_confluents_filters(client: Client) -> None:
    first = await register(client, "orders-value", record())
    second = await register(client, "orders-value", record("note"))
    await register(client, "orders-key", record())
    other = await register(client, "payments-value", record("amount"))
    assert (await client.delete("/subjects/orders-value/versions/2")).status == 200

    def entry(subject: str, version: int, schema_id: int, schema: str) -> Any:
        return parsed({"subject": subject, "version": version, "id": schema_id, "schema": schema})

    key = entry("orders-key", 1, first, record())
    v1 = entry("orders-value", 1, first, record())
    v2 = entry("orders-value", 2, second, record("note"))
    payments = entry("payments-value", 1, other, record("amount"))

    async def schemas(query: str = "") -> Any:
        response = await client.get(f"/schemas{query}")
        assert response.status == 200
        return parsed(await response.json())

    assert await schemas() == [key, v1, payments]
    assert await schemas("?deleted=true") == [key, v1, v2, payments]
    assert await schemas("?subjectPrefix=orders") == [key, v1]
    assert await schemas("?subjectPrefix=orders-v&deleted=true&latestOnly=true") == [v2]
    assert await schemas("?latestOnly=true") == [key, v1, payments]
    assert await schemas("?offset=1&limit=1") == [v1]
    assert await schemas("?offset=2&limit=0") == [payments]  # 0 or less: no limit
    assert await schemas("?subjectPrefix=nothing") == []
    assert await error(await client.get("/schemas?limit=ten")) == (404, 404, "HTTP 404 Not Found")


# -- row 3: Accept and Content-Type -------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, CONTENT_TYPE),
        ("application/json", "application/json"),
        ("application/vnd.schemaregistry+json", "application/vnd.schemaregistry+json"),
        ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", CONTENT_TYPE),
        (
            "application/vnd.schemaregistry.v2+json; q=0.1, "
            "application/vnd.schemaregistry+json; q=0.9",
            "application/vnd.schemaregistry+json",
        ),
        ("application/json; q=0.9, */*; q=0.1", "application/json"),
        ("application/json, */*", CONTENT_TYPE),  # equal q: the registry's own weights
        ("application/*", CONTENT_TYPE),
        ("*/does_not_matter", CONTENT_TYPE),
        ("*", CONTENT_TYPE),
        ("*/*", CONTENT_TYPE),
    ],
)
async def test_accept_picks_the_answers_type(
    client: Client, accept: str | None, chosen: str
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = await client.get("/subjects", headers=headers)
    assert (response.status, response.content_type) == (200, chosen)
    assert negotiate(accept) == chosen


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.schemaregistry.v2+json",
        "text/*",
        "application/octet-stream",
        "application/json; q=0",
    ],
)
async def test_an_accept_without_a_json_type_is_406(client: Client, accept: str) -> None:
    response = await client.get("/subjects", headers={"Accept": accept})
    assert await error(response) == (406, 406, "HTTP 406 Not Acceptable")
    with pytest.raises(NotAcceptableError):
        negotiate(accept)


async def test_errors_and_writes_answer_in_the_accepted_type(client: Client) -> None:
    json_only = {"Accept": "application/json"}
    missing = await client.get("/subjects/nope/versions", headers=json_only)
    assert missing.content_type == "application/json"
    assert await error(missing) == (404, 40401, "Subject 'nope' not found.")
    written = await client.post(
        "/subjects/s/versions", json={"schema": record()}, headers=json_only
    )
    assert (written.content_type, await written.json()) == ("application/json", {"id": 1})


async def test_request_content_types_as_confluent_consumes_them(client: Client) -> None:
    body = json.dumps({"compatibility": "NONE"})
    for content_type in (
        CONTENT_TYPE,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
        "application/vnd.schemaregistry.v1+json; charset=utf-8",
    ):
        response = await client.put("/config", data=body, headers={"Content-Type": content_type})
        assert (response.status, response.content_type) == (200, CONTENT_TYPE), content_type
    wide = await client.put(
        "/config",
        data=body.encode("utf-16"),
        headers={"Content-Type": f"{CONTENT_TYPE}; charset=utf-16"},
    )
    assert await wide.json() == {"compatibility": "NONE"}
    html = await client.put("/config", data=body, headers={"Content-Type": "text/html"})
    assert html.content_type == CONTENT_TYPE
    assert await error(html) == (415, 415, "HTTP 415 Unsupported Media Type")


# -- rows 4 and 5: compatibility with a version, ids that are not numbers ------------------------


async def test_compatibility_against_a_missing_version_is_40402(client: Client) -> None:
    check = {"schema": record("x")}
    url = "/compatibility/subjects/s/versions"
    assert await error(await client.post(f"{url}/1", json=check)) == (
        404,
        40402,
        "Version 1 not found.",
    )
    assert await (await client.post(f"{url}/latest", json=check)).json() == {"is_compatible": True}
    await register(client, "s", record())
    assert await error(await client.post(f"{url}/2", json=check)) == (
        404,
        40402,
        "Version 2 not found.",
    )
    assert (await client.delete("/subjects/s/versions/1")).status == 200
    assert (await error(await client.post(f"{url}/1", json=check)))[:2] == (404, 40402)
    assert await (await client.post(f"{url}/latest", json=check)).json() == {"is_compatible": True}
    assert await error(await client.post(f"{url}/0", json=check)) == (
        422,
        42202,
        INVALID_VERSION.format("0"),
    )


async def test_an_invalid_schema_checked_verbosely_is_an_answer(client: Client) -> None:
    await register(client, "s", record())
    url = "/compatibility/subjects/s/versions/latest"
    verbose = await (await client.post(f"{url}?verbose=true", json={"schema": "{"})).json()
    assert verbose["is_compatible"] is False and len(verbose["messages"]) == 1
    assert (await error(await client.post(url, json={"schema": "{"})))[:2] == (422, 42201)


@pytest.mark.parametrize("text", ["invalid", "1.5", "99999999999", " 1"])
async def test_schema_ids_that_are_not_integers_are_jerseys_404(client: Client, text: str) -> None:
    for suffix in ("", "/schema", "/subjects", "/versions"):
        response = await client.get(f"/schemas/ids/{quote(text)}{suffix}")
        assert await error(response) == (404, 404, "HTTP 404 Not Found")


# -- row 6: Confluent's messages ----------------------------------------------------------------


async def test_not_found_messages_are_confluents(client: Client) -> None:
    await register(client, "s", record())
    cases = {
        "/subjects/none/versions": (404, 40401, "Subject 'none' not found."),
        "/subjects/none/versions/1": (404, 40401, "Subject 'none' not found."),
        "/subjects/s/versions/7": (404, 40402, "Version 7 not found."),
        "/schemas/ids/99": (404, 40403, "Schema 99 not found"),
        "/schemas/ids/99/schema": (404, 40403, "Schema 99 not found"),
        "/schemas/ids/99/subjects": (404, 40403, "Schema not found"),
        "/schemas/ids/99/versions": (404, 40403, "Schema not found"),
        "/config/s": (
            404,
            40408,
            "Subject 's' does not have subject-level compatibility configured",
        ),
        "/no/such/route": (404, 404, "HTTP 404 Not Found"),
    }
    for url, expected in cases.items():
        assert await error(await client.get(url)) == expected, url
    lookup = await client.post("/subjects/s", json={"schema": record("other")})
    assert await error(lookup) == (404, 40403, "Schema not found")
    unknown = await client.post("/subjects/none", json={"schema": record()})
    assert await error(unknown) == (404, 40401, "Subject 'none' not found.")
    assert await error(await client.delete("/subjects/none")) == (
        404,
        40401,
        "Subject 'none' not found.",
    )


@pytest.mark.parametrize("version", ["0", "-2", "abc", "2147483648", "1.0"])
async def test_invalid_version_messages_quote_the_version(client: Client, version: str) -> None:
    await register(client, "s", record())
    shown = str(int(version)) if version in ("0", "-2") else version
    for url in (f"/subjects/s/versions/{version}", f"/subjects/s/versions/{version}/schema"):
        assert await error(await client.get(url)) == (422, 42202, INVALID_VERSION.format(shown))
    assert await error(await client.delete(f"/subjects/s/versions/{version}")) == (
        422,
        42202,
        INVALID_VERSION.format(shown),
    )


async def test_latest_and_minus_one_read_the_last_version(client: Client) -> None:
    await register(client, "s", record())
    await register(client, "s", record("x"))
    for version in ("latest", "LATEST", "-1"):
        answer = await (await client.get(f"/subjects/s/versions/{version}")).json()
        assert answer["version"] == 2, version


async def test_delete_messages_are_confluents(client: Client) -> None:
    await register(client, "s", record())
    assert await error(await client.delete("/subjects/s/versions/1?permanent=true")) == (
        404,
        40407,
        "Subject 's' Version 1 was not deleted first before being permanently deleted",
    )
    assert await error(await client.delete("/subjects/s?permanent=true")) == (
        404,
        40405,
        "Subject 's' was not deleted first before being permanently deleted",
    )
    assert (await client.delete("/subjects/s/versions/1")).status == 200
    assert await error(await client.delete("/subjects/s/versions/1")) == (
        404,
        40406,
        "Subject 's' Version 1 was soft deleted.Set permanent=true to delete permanently",
    )
    assert await error(await client.delete("/subjects/s")) == (
        404,
        40404,
        "Subject 's' was soft deleted.Set permanent=true to delete permanently",
    )


async def test_invalid_input_messages_are_confluents(client: Client) -> None:
    empty = await client.post("/subjects/s/versions", json={"schema": ""})
    assert await error(empty) == (422, 42201, "Empty schema")
    level = await client.put("/config", json={"compatibility": "SOMETIMES"})
    assert await error(level) == (
        422,
        42203,
        "Invalid compatibility level. Valid values are none, backward, forward, full, "
        "backward_transitive, forward_transitive, and full_transitive",
    )
    await register(client, "s", record())
    breaking = json.dumps(
        {"type": "record", "name": "User", "fields": [{"name": "id", "type": "string"}]}
    )
    status, code, message = await error(
        await client.post("/subjects/s/versions", json={"schema": breaking})
    )
    assert (status, code) == (409, 409)
    assert message.startswith(
        'Schema being registered is incompatible with an earlier schema for subject "s", details: ['
    )
    assert message.endswith(
        "details: [{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') "
        "of a field in the new schema does not match with the old schema', additionalInfo:"
        "'reader type: STRING not compatible with writer type: LONG'}, {oldSchemaVersion: 1}, "
        """{oldSchema: '{"type":"record","name":"User","fields":"""
        """[{"name":"id","type":"long"}]}'}, """
        "{validateFields: 'false', compatibility: 'BACKWARD'}]"
    )


async def test_bodies_are_compact_json_as_confluents(client: Client) -> None:
    response = await client.get("/subjects/none/versions")
    assert await response.text() == '{"error_code":40401,"message":"Subject \'none\' not found."}'
