"""Confluent's error codes and delete rules, over plain HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from streamworks.testing.registry import RegistryThread

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def user(*extra: dict[str, Any]) -> str:
    fields = [{"name": "id", "type": "long"}, *extra]
    return json.dumps({"type": "record", "name": "User", "fields": fields})


@pytest.fixture
def http(registry: RegistryThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, headers={"Content-Type": CONTENT_TYPE}) as client:
        yield client


def error_code(response: httpx.Response) -> int:
    assert response.headers["content-type"].startswith(CONTENT_TYPE)
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["message"]
    return int(body["error_code"])


def register(http: httpx.Client, subject: str, schema: str) -> httpx.Response:
    return http.post(f"/subjects/{subject}/versions", json={"schema": schema})


def test_not_found_codes(http: httpx.Client) -> None:
    assert register(http, "known", user()).status_code == 200
    cases = {
        "/subjects/unknown/versions": 40401,
        "/subjects/unknown/versions/1": 40401,
        "/subjects/known/versions/7": 40402,
        "/schemas/ids/9999": 40403,
        "/schemas/ids/9999/versions": 40403,
    }
    for path, code in cases.items():
        response = http.get(path)
        assert (response.status_code, error_code(response)) == (404, code), path
    lookup = http.post("/subjects/known", json={"schema": user({"name": "x", "type": "int"})})
    assert error_code(lookup) == 40403
    assert error_code(http.post("/subjects/unknown", json={"schema": user()})) == 40401


def test_invalid_input_codes(http: httpx.Client) -> None:
    for body in ({"schema": "{not json"}, {"schema": '{"type": "record"}'}, {"other": 1}):
        response = http.post("/subjects/s/versions", json=body)
        assert (response.status_code, error_code(response)) == (422, 42201), body
    other_type = http.post("/subjects/s/versions", json={"schema": "{}", "schemaType": "JSON"})
    assert error_code(other_type) == 42201
    bad_json = http.post("/subjects/s/versions", content=b"{oops")
    assert (bad_json.status_code, error_code(bad_json)) == (400, 400)
    for version in ("0", "abc", "-5"):
        response = http.get(f"/subjects/s/versions/{version}")
        assert (response.status_code, error_code(response)) == (422, 42202), version
    level = http.put("/config", json={"compatibility": "SOMETIMES"})
    assert (level.status_code, error_code(level)) == (422, 42203)
    assert error_code(http.get("/no/such/path")) == 404


def test_incompatible_schema_is_409_and_names_the_field(http: httpx.Client) -> None:
    assert register(http, "users", user()).status_code == 200
    response = register(http, "users", user({"name": "email", "type": "string"}))
    assert (response.status_code, error_code(response)) == (409, 409)
    assert "email" in response.json()["message"]
    # with a default the same change is fine
    defaulted = user({"name": "email", "type": "string", "default": ""})
    assert register(http, "users", defaulted).json() == {"id": 2}


def test_soft_and_permanent_delete_rules(http: httpx.Client) -> None:
    first = register(http, "s", user()).json()["id"]
    second = register(http, "s", user({"name": "n", "type": "int", "default": 0})).json()["id"]

    assert error_code(http.delete("/subjects/s/versions/1?permanent=true")) == 40407
    assert http.delete("/subjects/s/versions/1").json() == 1
    assert error_code(http.delete("/subjects/s/versions/1")) == 40406
    assert http.get("/subjects/s/versions").json() == [2]
    assert http.get("/subjects/s/versions?deleted=true").json() == [1, 2]
    assert error_code(http.get("/subjects/s/versions/1")) == 40402
    assert http.get("/subjects/s/versions/1?deleted=true").json()["id"] == first
    assert http.get(f"/schemas/ids/{first}").status_code == 200  # still served by id

    assert error_code(http.delete("/subjects/s?permanent=true")) == 40405
    assert http.delete("/subjects/s").json() == [2]
    assert error_code(http.delete("/subjects/s")) == 40404
    assert http.get("/subjects").json() == []
    assert http.get("/subjects?deleted=true").json() == ["s"]
    assert http.delete("/subjects/s?permanent=true").json() == [1, 2]
    assert error_code(http.get(f"/schemas/ids/{second}")) == 40403
    assert http.get("/subjects?deleted=true").json() == []

    # ids are never handed out again
    third = register(http, "t", user({"name": "z", "type": "string"})).json()["id"]
    assert third > second


def test_read_endpoints_shapes(http: httpx.Client) -> None:
    schema = user()
    schema_id = register(http, "a", schema).json()["id"]
    assert register(http, "b", schema).json()["id"] == schema_id
    assert http.get("/").json() == {}
    assert http.get("/schemas/types").json() == ["AVRO"]
    # served in Avro's compact canonical text, as Confluent stores it
    compact = json.dumps(json.loads(schema), separators=(",", ":"))
    assert http.get(f"/schemas/ids/{schema_id}").json() == {"schema": compact}
    assert json.loads(http.get(f"/schemas/ids/{schema_id}/schema").text) == json.loads(schema)
    assert http.get(f"/schemas/ids/{schema_id}/subjects").json() == ["a", "b"]
    assert http.get(f"/schemas/ids/{schema_id}/versions").json() == [
        {"subject": "a", "version": 1},
        {"subject": "b", "version": 1},
    ]
    version = http.get("/subjects/a/versions/latest").json()
    assert version == {"subject": "a", "version": 1, "id": schema_id, "schema": compact}
    assert json.loads(http.get("/subjects/a/versions/1/schema").text) == json.loads(schema)
    found = http.post("/subjects/b", json={"schema": schema}).json()
    assert (found["id"], found["version"]) == (schema_id, 1)


def test_config_endpoints(http: httpx.Client) -> None:
    assert http.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert http.put("/config", json={"compatibility": "FULL"}).json() == {"compatibility": "FULL"}
    assert http.get("/config").json() == {"compatibilityLevel": "FULL"}
    assert error_code(http.get("/config/s")) == 40408
    assert http.get("/config/s?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}
    # Confluent echoes the request as sent; the level itself is stored upper-cased
    assert http.put("/config/s", json={"compatibility": "none"}).json() == {"compatibility": "none"}
    assert http.get("/config/s").json() == {"compatibilityLevel": "NONE"}
    assert http.delete("/config/s").json() == {"compatibilityLevel": "NONE"}
    assert http.get("/config/s?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}


def test_compatibility_endpoint(http: httpx.Client) -> None:
    register(http, "c", user())
    breaking = {"schema": user({"name": "email", "type": "string"})}
    path = "/compatibility/subjects/c/versions"
    assert http.post(f"{path}/latest", json=breaking).json() == {"is_compatible": False}
    verbose = http.post(f"{path}/1?verbose=true", json=breaking).json()
    assert verbose["is_compatible"] is False
    assert any("email" in message for message in verbose["messages"])
    assert http.post(path, json={"schema": user()}).json() == {"is_compatible": True}
    assert error_code(http.post(f"{path}/9", json=breaking)) == 40402
    assert http.post("/compatibility/subjects/new/versions/latest", json=breaking).json() == {
        "is_compatible": True
    }


def test_other_json_content_types_are_accepted(http: httpx.Client) -> None:
    for content_type in ("application/json", "application/vnd.schemaregistry+json"):
        response = http.post(
            "/subjects/ct/versions",
            content=json.dumps({"schema": user()}).encode(),
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 200, content_type
